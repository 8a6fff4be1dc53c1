"""Simulated BTHome devices with a bind key send what an encrypting device sends."""

from __future__ import annotations

import pytest

from sensors.codecs.bthome import SERVICE_UUID, BTHomeDecoder
from sensors.errors import DecodeError
from sensors.readings import ButtonPress
from simulators.devices.ambient import SimulatedAmbientSensor
from simulators.devices.pendant import SimulatedPendant, SimulatedRoomSensor
from simulators.scenario import ScenarioError, parse_scenario

KEY = bytes(range(1, 17))
T = 1_700_000_000.0


def test_an_encrypted_pendant_counts_per_advertisement_and_repeats_share_the_counter() -> None:
    pendant = SimulatedPendant("p1", "C2:00:00:00:00:01", key=KEY, counter=41)
    copies = pendant.press(T, ButtonPress.LONG_PRESS)
    assert len({c.service_data[SERVICE_UUID] for c in copies}) == 1  # three equal copies
    data = copies[0].service_data[SERVICE_UUID]
    assert data[0] == 0x45  # v2, encrypted, trigger-based
    assert int.from_bytes(data[-8:-4], "little") == 41 and pendant.counter == 42
    dec = BTHomeDecoder("p1", key=KEY)
    decoded = [dec.decode(c) for c in copies]
    assert decoded[0] is not None and decoded[1:] == [None, None]
    assert [b.press for b in decoded[0].buttons] == [ButtonPress.LONG_PRESS]
    # Without the key nothing is readable.
    with pytest.raises(DecodeError, match="no bind key"):
        BTHomeDecoder("p1").decode(copies[0])


def test_encrypted_room_and_ambient_sensors_decode_with_their_key() -> None:
    room = SimulatedRoomSensor("r1", "C2:00:00:00:00:02", key=KEY)
    mat = SimulatedAmbientSensor("b1", "C2:00:00:00:00:03", "bed", key=KEY)
    for dev in (room, mat):
        dec = BTHomeDecoder(dev.id, key=KEY)
        frames = [dec.decode(a) for t in range(3) for a in dev.tick(T + 10 * t)]
        assert sum(f is not None for f in frames) == 3 and dec.replays == 0


def test_the_scenario_key_is_stable_and_only_for_bthome_devices() -> None:
    sc = parse_scenario('name = "x"\n[[devices]]\nid = "p-1"\nkind = "pendant"\nencrypted = true\n')
    (d,) = sc.devices
    assert d.bind_key is not None and len(d.bind_key) == 16
    assert (
        parse_scenario('name = "x"\n[[devices]]\nid = "p-1"\nkind = "pendant"\nencrypted = true\n')
        .devices[0]
        .bind_key
        == d.bind_key
    )
    with pytest.raises(ScenarioError, match="encrypted is for a BTHome device"):
        parse_scenario('name = "x"\n[[devices]]\nid = "w-1"\nkind = "wearable"\nencrypted = true\n')
