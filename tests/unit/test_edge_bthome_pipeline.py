"""The pipeline with encrypted BTHome devices, implausible values and multi-button frames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from edge.config import EdgeSettings, load_settings
from edge.detection import Finding
from edge.errors import ConfigError
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from sensors import contract
from sensors.codecs.ble_health import (
    PLX_CONTINUOUS_MEASUREMENT,
    PlxContinuous,
    encode_plx_continuous,
)
from sensors.codecs.bthome import SERVICE_UUID, BTHomePayload, encode_advertisement
from sensors.readings import Advertisement, ButtonPress, Notification, Reading

PENDANT = "A4:C1:38:00:00:01"
ROOM = "A4:C1:38:00:00:02"
BAND = "A4:C1:38:00:00:03"
KEY = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000.0


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.fed: list[Reading] = []

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        self.fed.extend(readings)
        return []

    def advance(self, t: float) -> Sequence[Finding]:
        return []


def settings_with(**pendant: object) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        devices=[
            {"id": "pendant-1", "kind": "pendant", "address": PENDANT, **pendant},
            {"id": "room-1", "kind": "bthome", "address": ROOM},
            {
                "id": "band-1",
                "kind": "wearable",
                "address": BAND,
                "accelerometer": False,
                "health": ["plx_continuous"],
            },
        ],
    )


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=1000, max_bytes=10**7) as s:
        yield s


def make(settings: EdgeSettings, spool: Spool, det: Recorder | None = None) -> Pipeline:
    health = HealthTracker(((d.id, d.kind, settings.silence_for(d)) for d in settings.devices), T0)
    return Pipeline(settings, Outbox(spool), health, detectors=[det] if det else [])


def spooled(spool: Spool) -> list[contract.Message]:
    return [contract.decode(i.topic, i.payload)[1] for i in spool.peek(1000)]


def press(counter: int, key: bytes | None, t: float = T0) -> Advertisement:
    return encode_advertisement(
        PENDANT,
        BTHomePayload(packet_id=counter % 256, button=ButtonPress.PRESS, trigger_based=True),
        t=t,
        key=key,
        counter=counter,
    )


def test_an_encrypted_pendant_raises_and_a_replay_is_refused_and_counted(spool: Spool) -> None:
    p = make(settings_with(bind_key=KEY), spool)
    key = bytes.fromhex(KEY)
    first = press(500, key)
    for _ in range(3):  # the device's own repeats
        p.handle(first)
    assert len(p.stats.alarms) == 1 and p.stats.duplicates == 2
    p.handle(press(501, key, T0 + 20))
    assert len(p.stats.alarms) == 2
    # The recorded first press, replayed a minute later: no third alarm.
    replay = encode_advertisement(
        PENDANT,
        BTHomePayload(packet_id=500 % 256, button=ButtonPress.PRESS, trigger_based=True),
        t=T0 + 60,
        key=key,
        counter=500,
    )
    p.handle(replay)
    assert len(p.stats.alarms) == 2
    assert p.stats.replays == 1 and p.stats.decode_errors["bthome"] == 1


def test_a_keyed_pendant_refuses_plaintext_and_a_wrong_key(spool: Spool) -> None:
    p = make(settings_with(bind_key=KEY), spool)
    p.handle(press(7, None))
    p.handle(press(8, bytes(range(16))))
    assert p.stats.alarms == [] and p.stats.decode_errors["bthome"] == 2


def test_bind_key_is_checked_in_the_config() -> None:
    for bad in ("00" * 16, "abc", "zz" * 16):
        with pytest.raises(ConfigError, match="bind_key"):
            settings_with(bind_key=bad)
    settings = settings_with(bind_key=KEY)
    assert settings.devices[0].bind_key_bytes() == bytes.fromhex(KEY)
    assert KEY not in repr(settings.devices[0])  # a secret: never in a log line


def test_implausible_values_are_counted_never_scored_nor_sent(spool: Spool) -> None:
    det = Recorder()
    p = make(settings_with(), spool, det)
    # BTHome: battery 167 % (byte 0xa7) next to a good humidity.
    room = bytes.fromhex("40 00 01 01 a7 03 bf 13")
    p.handle(Advertisement(ROOM, {SERVICE_UUID: room}, -60, T0))
    # GATT: an SpO2 of -0.0007 with a clean status (a mis-scaled SFLOAT).
    spo2 = encode_plx_continuous(PlxContinuous(spo2=-0.0007, pulse_rate=72.0))
    p.handle(Notification(BAND, PLX_CONTINUOUS_MEASUREMENT, spo2, T0))
    p.tick(T0 + 1)
    (batch,) = [m for m in spooled(spool) if isinstance(m, contract.ReadingsBatch)]
    sent = {(r.sensor, r.quantity) for r in batch.readings}
    assert sent == {("room-1", "humidity"), ("band-1", "hr")}
    assert not any(r.quantity in ("battery", "spo2") for r in det.fed)
    assert p.stats.implausible == {"battery": 1, "spo2": 1}


def test_a_multi_button_press_says_which_button(spool: Spool) -> None:
    p = make(settings_with(), spool)
    payload = BTHomePayload(packet_id=1, buttons=(None, None, ButtonPress.DOUBLE_PRESS))
    p.handle(encode_advertisement(PENDANT, payload, t=T0))
    (alarm,) = spooled(spool)
    assert isinstance(alarm, contract.AlarmMessage)
    assert alarm.detail == {"press": "double_press", "button": 3}


def test_a_second_thermometer_reaches_the_hub_as_its_own_series(spool: Spool) -> None:
    p = make(settings_with(), spool)
    p.handle(Advertisement(ROOM, {SERVICE_UUID: bytes.fromhex("40 02 ca 09 45 11 01")}, -60, T0))
    p.tick(T0 + 1)
    (batch,) = spooled(spool)
    assert isinstance(batch, contract.ReadingsBatch)
    kept, refused = contract.split_readings(batch, T0 + 1)
    assert {(r.quantity, r.value) for r in kept} == {
        ("temperature", 25.06),
        ("temperature_2", 27.3),
    }
    assert refused == {}


def test_a_press_recorded_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    key = bytes.fromhex(KEY)
    path = tmp_path / "spool.sqlite"
    with Spool(path, max_messages=1000, max_bytes=10**7) as s:
        p = make(settings_with(bind_key=KEY), s)
        p.handle(press(700, key))
        p.handle(press(701, key, T0 + 30))  # a press: its counter is saved at once
        assert len(p.stats.alarms) == 2
    with Spool(path, max_messages=1000, max_bytes=10**7) as s:
        again = make(settings_with(bind_key=KEY), s)
        for recorded in (press(700, key, T0 + 600), press(701, key, T0 + 610)):
            again.handle(recorded)
        assert again.stats.alarms == []
        assert again.stats.replays == 2
        again.handle(press(702, key, T0 + 620))  # the pendant's next real press
        assert len(again.stats.alarms) == 1


def test_a_pendant_with_a_new_key_starts_afresh(tmp_path: Path) -> None:
    """Replaced or re-keyed: the old pendant's counter is not this one's to be refused by."""
    path = tmp_path / "spool.sqlite"
    with Spool(path, max_messages=1000, max_bytes=10**7) as s:
        p = make(settings_with(bind_key=KEY), s)
        p.handle(press(5000, bytes.fromhex(KEY)))
        assert len(p.stats.alarms) == 1
    other = "fedcba9876543210fedcba9876543210"
    with Spool(path, max_messages=1000, max_bytes=10**7) as s:
        again = make(settings_with(bind_key=other), s)
        again.handle(press(300, bytes.fromhex(other), T0 + 60))  # a new one counts from low
        assert len(again.stats.alarms) == 1 and again.stats.replays == 0


def test_counters_are_saved_at_most_once_a_minute(tmp_path: Path) -> None:
    from edge.counter_book import SAVE_EVERY_S, CounterBook

    now = [100.0]
    devices = {"room-1": "fp-1"}
    with Spool(tmp_path / "spool.sqlite", max_messages=1000, max_bytes=10**7) as s:
        book = CounterBook(s, devices, clock=lambda: now[0])
        book.note("room-1", 10)
        assert book.save() == 1
        book.note("room-1", 11)
        now[0] += SAVE_EVERY_S / 2
        assert book.save() == 0  # too soon: kept in memory
        assert book.get("room-1") == 11
        assert book.save(force=True) == 1  # a press, or the agent stopping
        book.note("room-1", 12)
        now[0] += SAVE_EVERY_S
        assert book.save() == 1
        book.note("room-1", 12)  # no change: nothing to write
        now[0] += 10 * SAVE_EVERY_S
        assert book.save() == 0
        book.note("room-1", None)  # a decoder that never decrypted anything
        book.note("stranger-1", 99)  # not a configured encrypted device: not kept
        assert book.save(force=True) == 0
        assert CounterBook(s, devices).get("room-1") == 12
        assert CounterBook(s, {"room-1": "fp-2"}).get("room-1") is None  # re-keyed
