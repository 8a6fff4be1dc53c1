"""BTHome v2: our encoder, the real bthome_ble parser, and what is garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.codecs.bthome import (
    SERVICE_UUID,
    BTHomeDecoder,
    BTHomePayload,
    decode_advertisement,
    encode_advertisement,
    encode_service_data,
)
from sensors.errors import DecodeError
from sensors.plausibility import plausible
from sensors.readings import Advertisement, ButtonEvent, ButtonPress, DecodedFrame, Reading

MAC = "A4:C1:38:00:00:01"
T = 1_700_000_000.0


def adv(data: bytes, t: float = T) -> Advertisement:
    return Advertisement(address=MAC, service_data={SERVICE_UUID: data}, rssi=-60, t=t)


@pytest.mark.parametrize(
    ("hex_data", "expected"),
    [
        # pendant press: trigger-based device, packet 5, battery 87 %, button "press"
        (
            "44 00 05 01 57 3a 01",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=5,
                battery=87.0,
                readings=(Reading("p1", "battery", T, 87.0),),
                buttons=(ButtonEvent("p1", ButtonPress.PRESS, T),),
            ),
        ),
        # long press, no battery
        (
            "44 00 ff 3a 04",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=255,
                buttons=(ButtonEvent("p1", ButtonPress.LONG_PRESS, T),),
            ),
        ),
        # keep-alive: battery only
        (
            "44 00 06 01 56",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=6,
                battery=86.0,
                readings=(Reading("p1", "battery", T, 86.0),),
            ),
        ),
        # room sensor: temperature -5.25 degC (sint16 LE 0xfdf3), humidity 55.50 %, motion
        (
            "40 00 01 02 f3 fd 03 ae 15 21 01",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=1,
                readings=(
                    Reading("p1", "humidity", T, 55.5),
                    Reading("p1", "motion", T, 1.0),
                    Reading("p1", "temperature", T, -5.25),
                ),
            ),
        ),
        # example from bthome.io: temperature 25.00 degC, humidity 50.55 %
        (
            "40 02 c4 09 03 bf 13",
            DecodedFrame(
                sensor="p1",
                t=T,
                readings=(
                    Reading("p1", "humidity", T, 50.55),
                    Reading("p1", "temperature", T, 25.0),
                ),
            ),
        ),
    ],
)
def test_decode_captured_payloads(hex_data: str, expected: DecodedFrame) -> None:
    assert decode_advertisement("p1", adv(bytes.fromhex(hex_data))) == expected


def test_encode_pendant_press_bytes() -> None:
    payload = BTHomePayload(packet_id=5, battery=87, button=ButtonPress.PRESS, trigger_based=True)
    assert encode_service_data(payload) == bytes.fromhex("44 00 05 01 57 3a 01")


@given(
    packet_id=st.integers(0, 255),
    battery=st.none() | st.integers(0, 100),
    temperature=st.none() | st.integers(-27000, 27000).map(lambda v: v / 100),
    humidity=st.none() | st.integers(0, 10000).map(lambda v: v / 100),
    illuminance=st.none() | st.integers(0, 2**24 - 1).map(lambda v: v / 100),
    motion=st.none() | st.booleans(),
    button=st.none() | st.sampled_from(list(ButtonPress)),
    trigger_based=st.booleans(),
)
def test_round_trip_through_bthome_ble(
    packet_id: int,
    battery: int | None,
    temperature: float | None,
    humidity: float | None,
    illuminance: float | None,
    motion: bool | None,
    button: ButtonPress | None,
    trigger_based: bool,
) -> None:
    payload = BTHomePayload(
        packet_id, battery, temperature, humidity, illuminance, motion, button, trigger_based
    )
    frame = decode_advertisement("s1", encode_advertisement(MAC, payload, t=T))
    # Implausible values (a -270 degC room) come out as rejected, never as readings.
    values = {r.quantity: r.value for r in frame.readings + frame.rejected}
    assert all(plausible(r) for r in frame.readings)
    assert not any(plausible(r) for r in frame.rejected)
    assert frame.packet_id == packet_id
    assert frame.battery == (None if battery is None else float(battery))
    expected = {
        "battery": battery,
        "temperature": temperature,
        "humidity": humidity,
        "illuminance": illuminance,
        "motion": None if motion is None else float(motion),
    }
    for quantity, value in expected.items():
        if value is None:
            assert quantity not in values
        else:
            assert values[quantity] == pytest.approx(value, abs=1e-9)
    assert [b.press for b in frame.buttons] == ([] if button is None else [button])


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (bytes.fromhex("40"), "no objects"),
        (bytes.fromhex("20 00 01"), "not BTHome v2"),  # version 1 in the info byte
        (bytes.fromhex("41 00 01 01 50"), "encrypted"),
        (bytes.fromhex("42 00 01"), "MAC"),  # MAC-included bit, 2 bytes: no MAC
        (bytes.fromhex("42 01 02 03 04 05 06 00 01"), "not the advertiser"),
        (bytes.fromhex("40 02 f3"), "truncated"),  # temperature needs 2 bytes
        (bytes.fromhex("40 00"), "truncated"),
        (bytes.fromhex("40 ee 05"), "unknown object 0xee"),
        (bytes.fromhex("40 09 05"), "no object we understand"),  # a count: not ours
    ],
)
def test_garbage_is_rejected(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_advertisement("p1", adv(data))


def test_no_bthome_service_data() -> None:
    other = Advertisement(MAC, {"0000fe95-0000-1000-8000-00805f9b34fb": b"\x01\x02"}, -70, T)
    with pytest.raises(DecodeError, match="0xFCD2"):
        decode_advertisement("p1", other)


@given(st.binary(max_size=40))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        frame = decode_advertisement("p1", adv(data))
    except DecodeError:
        return
    assert frame.sensor == "p1"


def test_decoder_drops_repeats_of_one_advertisement() -> None:
    dec = BTHomeDecoder("p1")
    press = encode_service_data(
        BTHomePayload(packet_id=7, button=ButtonPress.PRESS, trigger_based=True)
    )
    first = dec.decode(adv(press, T))
    assert first is not None and first.buttons
    assert dec.decode(adv(press, T + 0.1)) is None  # the device's own repeat
    assert dec.decode(adv(press, T + 0.2)) is None
    # An older id arriving late (reordered) is a repeat too.
    older = encode_service_data(BTHomePayload(packet_id=6, battery=50))
    assert dec.decode(adv(older, T + 0.3)) is None
    # The next press has the next id; wrap-around 255 -> 0 counts as newer.
    nxt = encode_service_data(BTHomePayload(packet_id=8, button=ButtonPress.PRESS))
    assert dec.decode(adv(nxt, T + 1)) is not None
    # Same id after the window (a restarted device): a new frame.
    assert dec.decode(adv(nxt, T + 10)) is not None


def test_decoder_packet_id_wraps() -> None:
    dec = BTHomeDecoder("p1")
    assert dec.decode(adv(encode_service_data(BTHomePayload(packet_id=255, battery=1)), T))
    assert dec.decode(adv(encode_service_data(BTHomePayload(packet_id=0, battery=1)), T + 1))


def test_encoder_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="range"):
        encode_service_data(BTHomePayload(battery=101))
    with pytest.raises(ValueError, match="range"):
        encode_service_data(BTHomePayload(temperature=400.0))


# ------------------------------------------------------------ what bthome-ble gets wrong

PEER_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
PEER_MAC = "54:48:E6:8F:80:A5"


def test_encrypted_encoding_is_byte_for_byte_the_peers_capture() -> None:
    # bthome-ble's test_bindkey_correct frame: 25.06 degC, 50.55 %, counter bytes 00112233.
    data = encode_service_data(
        BTHomePayload(temperature=25.06, humidity=50.55),
        key=PEER_KEY,
        address=PEER_MAC,
        counter=0x33221100,
    )
    assert data == bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")


@given(
    counter=st.integers(0, 2**32 - 1),
    temperature=st.integers(-4000, 8500).map(lambda v: v / 100),
    button=st.none() | st.sampled_from(list(ButtonPress)),
    key=st.binary(min_size=16, max_size=16),
)
def test_our_encryption_decrypts_in_bthome_ble_itself(
    counter: int, temperature: float, button: ButtonPress | None, key: bytes
) -> None:
    """The simulator's encrypted bytes are what bthome-ble (with the bind key) reads."""
    from bleak.backends.device import BLEDevice
    from bthome_ble import BTHomeBluetoothDeviceData
    from habluetooth import BluetoothServiceInfoBleak

    payload = BTHomePayload(packet_id=counter % 256, temperature=temperature, button=button)
    a = encode_advertisement(PEER_MAC, payload, t=T, key=key, counter=counter)
    parser = BTHomeBluetoothDeviceData(bindkey=key)
    update = parser.update(
        BluetoothServiceInfoBleak(
            name="x",
            address=PEER_MAC,
            rssi=-60,
            manufacturer_data={},
            service_data={SERVICE_UUID: a.service_data[SERVICE_UUID]},
            service_uuids=[SERVICE_UUID],
            source="test",
            device=BLEDevice(PEER_MAC, None, None),
            advertisement=None,
            connectable=False,
            time=T,
            tx_power=None,
        )
    )
    assert parser.bindkey_verified
    values = {k.key: v.native_value for k, v in update.entity_values.items()}
    assert values["temperature"] == pytest.approx(temperature)
    ours = decode_advertisement("s1", a, key=key)
    assert [b.press for b in ours.buttons] == ([] if button is None else [button])
    assert {r.quantity: r.value for r in ours.readings}["temperature"] == pytest.approx(temperature)


def test_a_frame_with_an_unknown_object_keeps_what_comes_before() -> None:
    frame = decode_advertisement("p1", adv(bytes.fromhex("40 01 5d ee 05 03 b7 18")))
    assert [(r.quantity, r.value) for r in frame.readings] == [("battery", 93.0)]
    assert frame.skipped == ("unknown object 0xee at offset 2 (5 bytes)",)
    truncated = decode_advertisement("p1", adv(bytes.fromhex("40 00 01 02 f3")))
    assert truncated.packet_id == 1 and truncated.skipped == ("object 0x02 at offset 2 truncated",)


def test_button_hold_0xfe_is_a_hold_not_dropped() -> None:
    # Shelly BLU Button1 before firmware 1.0.20: 0xFE while held.
    frame = decode_advertisement("p1", adv(bytes.fromhex("44 00 21 01 5e 3a fe")))
    assert frame.buttons == (ButtonEvent("p1", ButtonPress.HOLD_PRESS, T),)
    assert frame.readings == (Reading("p1", "battery", T, 94.0),)


def test_multi_button_frames_keep_which_button() -> None:
    # A 4-button remote: button 2 pressed, button 4 held; 1 and 3 idle (0x00).
    payload = BTHomePayload(
        packet_id=3, buttons=(None, ButtonPress.PRESS, None, ButtonPress.HOLD_PRESS)
    )
    frame = decode_advertisement("rc", encode_advertisement(MAC, payload, t=T))
    assert frame.buttons == (
        ButtonEvent("rc", ButtonPress.PRESS, T, 2),
        ButtonEvent("rc", ButtonPress.HOLD_PRESS, T, 4),
    )


def test_an_unknown_button_code_is_counted_and_the_rest_kept() -> None:
    frame = decode_advertisement("p1", adv(bytes.fromhex("40 01 5e 3a 07 3a 01")))
    assert frame.buttons == (ButtonEvent("p1", ButtonPress.PRESS, T, 2),)
    assert frame.skipped == ("button_1 event 0x07 (unknown)",)
    assert frame.battery == 94.0


def test_repeated_instances_are_kept_apart() -> None:
    # Two thermometers (0x02 and 0x45) and a battery in one frame.
    frame = decode_advertisement("t1", adv(bytes.fromhex("40 01 5d 02 ca 09 45 11 01")))
    assert {r.quantity: r.value for r in frame.readings} == {
        "battery": 93.0,
        "temperature": 25.06,
        "temperature_2": 27.3,
    }


def test_care_objects_decode_in_our_units() -> None:
    payload = BTHomePayload(
        packet_id=9,
        mass_lb=154.32,
        voltage=3.05,
        moisture=41.5,
        wet=True,
        presence=True,
        vibration=False,
        door=True,
        window=False,
        tilt=-12.5,
    )
    frame = decode_advertisement("m1", encode_advertisement(MAC, payload, t=T))
    assert {r.quantity: r.value for r in frame.readings} == pytest.approx(
        {
            "weight": 154.32 * 0.45359237,
            "voltage": 3.05,
            "moisture": 41.5,
            "wet": 1.0,
            "presence": 1.0,
            "vibration": 0.0,
            "door": 1.0,
            "window": 0.0,
            "tilt": -12.5,
        },
        abs=1e-3,
    )


def test_battery_167_percent_is_rejected_not_a_reading() -> None:
    frame = decode_advertisement("p1", adv(bytes.fromhex("40 00 07 01 a7 21 01")))
    assert frame.battery is None
    assert frame.readings == (Reading("p1", "motion", T, 1.0),)
    assert frame.rejected == (Reading("p1", "battery", T, 167.0),)


# ---------------------------------------------------------------------------- fuzzing


def _objects_strategy() -> st.SearchStrategy[bytes]:
    """Well-framed object sequences of every object id bthome-ble knows, with random
    values: they reach the value parsing that random bytes rarely do."""
    from bthome_ble.const import MEAS_TYPES

    def one(obj: int) -> st.SearchStrategy[bytes]:
        meas = MEAS_TYPES[obj]
        if meas.data_format in ("raw", "string"):
            return st.binary(max_size=12).map(lambda b: bytes([obj, len(b)]) + b)
        if meas.data_format == "command":
            return st.binary(min_size=1, max_size=8).map(lambda b: bytes([obj, len(b) - 1]) + b)
        return st.binary(min_size=int(meas.data_length), max_size=int(meas.data_length)).map(
            lambda b: bytes([obj]) + b
        )

    ids = st.sampled_from(sorted(MEAS_TYPES))
    return st.lists(ids.flatmap(one), max_size=8).map(b"".join)


def _only_plausible(frame: DecodedFrame) -> None:
    assert all(plausible(r) for r in frame.readings)
    assert frame.battery is None or 0 <= frame.battery <= 100


@given(info=st.sampled_from([0x40, 0x44]), objects=_objects_strategy(), tail=st.binary(max_size=3))
def test_fuzz_well_framed_objects_only_decode_error_nothing_implausible(
    info: int, objects: bytes, tail: bytes
) -> None:
    try:
        frame = decode_advertisement("p1", adv(bytes([info]) + objects + tail))
    except DecodeError:
        return
    _only_plausible(frame)


@given(
    objects=_objects_strategy(),
    counter=st.integers(0, 2**32 - 1),
    flip=st.none() | st.integers(0, 200),
)
def test_fuzz_encrypted_frames_authenticate_or_raise_decode_error(
    objects: bytes, counter: int, flip: int | None
) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    from sensors.codecs.bthome import _nonce

    info = 0x41
    count = counter.to_bytes(4, "little")
    mac = bytes.fromhex(PEER_MAC.replace(":", ""))
    sealed = AESCCM(PEER_KEY, tag_length=4).encrypt(_nonce(mac, info, count), objects, None)
    data = bytearray([info]) + sealed[:-4] + count + sealed[-4:]
    if flip is not None and flip < len(data) * 8:
        data[flip // 8] ^= 1 << (flip % 8)  # one bit wrong: must not authenticate
    a = Advertisement(PEER_MAC, {SERVICE_UUID: bytes(data)}, -60, T)
    try:
        frame = decode_advertisement("p1", a, key=PEER_KEY)
    except DecodeError:
        return
    assert flip is None or flip >= len(data) * 8  # a flipped bit never authenticates
    _only_plausible(frame)


@given(frames=st.lists(st.tuples(st.binary(max_size=30), st.floats(0, 10)), max_size=12))
def test_fuzz_the_stateful_decoder_with_a_key(frames: list[tuple[bytes, float]]) -> None:
    dec = BTHomeDecoder("p1", key=PEER_KEY)
    t = T
    for data, dt in frames:
        t += dt
        try:
            frame = dec.decode(Advertisement(PEER_MAC, {SERVICE_UUID: b"\x41" + data}, -60, t))
        except DecodeError:
            continue
        if frame is not None:
            _only_plausible(frame)


def test_a_counter_restart_is_accepted_once_not_a_low_replay() -> None:
    """A battery change restarts the counter (accepted, counted); the device's early
    frames replayed later are not another restart."""
    from sensors.errors import StaleCounterError

    def frame(counter: int, t: float) -> Advertisement:
        payload = BTHomePayload(battery=50, trigger_based=True)
        return encode_advertisement(PEER_MAC, payload, t=t, key=PEER_KEY, counter=counter)

    dec = BTHomeDecoder("p1", key=PEER_KEY)
    assert dec.decode(frame(5000, T)) is not None
    assert dec.decode(frame(3, T + 10)) is not None  # restarted
    assert dec.counter_restarts == 1
    assert dec.decode(frame(7, T + 20)) is not None
    with pytest.raises(StaleCounterError):
        dec.decode(frame(4, T + 30))  # an old early frame: a replay, not a restart
    assert (dec.replays, dec.counter_restarts) == (1, 1)


def test_a_plaintext_frame_needs_no_mac_shaped_address() -> None:
    # bleak on macOS names a device by a UUID, not a MAC: plaintext BTHome still decodes.
    a = Advertisement(
        "0B7E8C2D-5F1A-4C3B-9D2E-1A2B3C4D5E6F", {SERVICE_UUID: b"\x40\x01\x5d"}, -60, T
    )
    assert decode_advertisement("p1", a).battery == 93.0
    encrypted = Advertisement(a.address, {SERVICE_UUID: b"\x41" + bytes(12)}, -60, T)
    with pytest.raises(DecodeError, match="not a MAC address"):
        decode_advertisement("p1", encrypted, key=PEER_KEY)
