"""The daily "alles goed" message: at the configured local time, once per contact and day
(also with two hub processes), only for contacts who switched it on, about their own
dwelling, through their channels in order. A fake clock; the real registry and alarm
service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path

import pytest

from alerts.channels import Notification
from alerts.errors import ChannelError
from alerts.model import AlarmKind, Severity
from alerts.service import AlarmService, AlertSettings
from hub.context import DwellingHealth
from hub.family.schedule import next_moment, parse_time, todays_moment
from hub.family.summary import DailySummaries
from hub.registry import Registry, SqliteRegistry
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_fakes import SECRET, FakePresence, registry
from tests.ops_store import ops_engine

pytestmark = pytest.mark.integration

HOUR = 3600.0
# FakeClock starts at 2025-11-24 16:00 UTC: 17:00 in Amsterdam. The next 08:00 is 15 h on.
TO_NEXT_8 = 15 * HOUR


@dataclass
class RecordingSender:
    sent: list[tuple[str, Notification]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    async def send(self, target: str, notification: Notification) -> None:
        if target in self.failing:
            raise ChannelError(target, "down", retryable=False)
        self.sent.append((target, notification))


@dataclass
class World:
    clock: FakeClock
    registry: Registry
    alarms: AlarmService
    sender: RecordingSender
    presence: FakePresence
    summaries: DailySummaries

    def other_process(self, reg: Registry) -> DailySummaries:
        """A second hub process on the same files (its own registry connection)."""
        return DailySummaries(
            reg,
            self.alarms,
            self.presence,
            None,
            self.clock,
            send_time=time(8, 0),
            public_url="https://hub.example.org",
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock()
    reg = registry(tmp_path / "hub.sqlite")
    sender = RecordingSender()
    alarms = AlarmService(
        ops_engine(tmp_path),
        sender,
        reg,
        AlertSettings(public_url="https://hub.example.org", secret_key=SECRET),
        clock,
    )
    presence = FakePresence(
        [
            DwellingHealth("dw-001", True, clock(), clock() - 7200),
            DwellingHealth("dw-002", False, clock() - 600, clock() - 500),
        ]
    )
    summaries = DailySummaries(
        reg,
        alarms,
        presence,
        None,
        clock,
        send_time=parse_time("08:00"),
        public_url="https://hub.example.org/",
    )
    yield World(clock, reg, alarms, sender, presence, summaries)
    alarms.close()
    reg.close()


async def test_a_contact_gets_one_message_a_day_from_the_first_send_time_on(world: World) -> None:
    w = world
    w.registry.set_daily_summary("c-anna", True, w.clock())  # at 17:00: today's has gone
    assert await w.summaries.tick() == 0
    w.clock.advance(TO_NEXT_8 - 60)  # 07:59
    assert await w.summaries.tick() == 0 and w.sender.sent == []
    w.clock.advance(60)  # 08:00
    assert await w.summaries.tick() == 1
    ((target, note),) = w.sender.sent
    assert target == "mailto:anna@example.org"
    assert note.subject == "Alles goed bij Unit 3, Tuinstraat"
    assert note.body.startswith("Goedemorgen Anna de Vries,\n")
    assert "Er was de afgelopen 24 uur geen alarm bij Unit 3, Tuinstraat" in note.body
    assert "De woning is verbonden." in note.body
    assert "https://hub.example.org/familie" in note.body and note.ack_url.endswith("/familie")
    assert note.short == "Alles goed bij Unit 3, Tuinstraat: geen alarmen."
    w.clock.advance(4 * HOUR)
    assert await w.summaries.tick() == 0  # once a day
    w.clock.advance(20 * HOUR)  # the next day, 08:00
    assert await w.summaries.tick() == 1 and len(w.sender.sent) == 2
    # Only for whom switched it on; off again, nothing more.
    assert {n.contact.id for _, n in w.sender.sent} == {"c-anna"}
    w.registry.set_daily_summary("c-anna", False, w.clock())
    w.clock.advance(24 * HOUR)
    assert await w.summaries.tick() == 0


async def test_switched_on_before_the_send_time_it_comes_that_morning(world: World) -> None:
    w = world
    w.clock.advance(TO_NEXT_8 - HOUR)  # 07:00
    w.registry.set_daily_summary("c-anna", True, w.clock())
    assert await w.summaries.tick() == 0
    w.clock.advance(HOUR)
    assert await w.summaries.tick() == 1


async def test_a_hub_down_at_the_send_time_sends_when_it_is_back_that_day(world: World) -> None:
    w = world
    w.registry.set_daily_summary("c-anna", True, w.clock())
    w.clock.advance(TO_NEXT_8 + 7 * HOUR)  # 15:00: the hub was down at 08:00
    assert await w.summaries.tick() == 1


async def test_what_needs_attention_is_in_the_subject(world: World) -> None:
    w = world
    w.registry.set_daily_summary("c-anna", True, w.clock())
    w.registry.set_daily_summary("c-bob", True, w.clock())
    w.clock.advance(TO_NEXT_8 - 2 * HOUR)  # 06:00: a fall, still open at 08:00
    msg = AlarmMessage(
        id=new_id(), dwelling="dw-001", ts=w.clock(), action="raise", alarm_id=new_id(),
        kind=AlarmKind.FALL, severity=Severity.HIGH,
    )  # fmt: skip
    await w.alarms.on_edge_alarm(msg, received_at=w.clock())
    w.clock.advance(2 * HOUR)
    assert await w.summaries.tick() == 2
    by = {n.contact.id: n for _, n in w.sender.sent}
    anna, bob = by["c-anna"], by["c-bob"]
    assert anna.subject == "Dagbericht Unit 3, Tuinstraat: 1 alarm"
    assert "De afgelopen 24 uur: 1 alarm." in anna.body and "1 alarm staat nog open." in anna.body
    # Bob's (English) dwelling is offline; Anna's alarm is none of his business.
    assert bob.subject == "Daily message Unit 7, Kerkpad: the dwelling is not connected"
    assert bob.body.startswith("Good morning Bob Smith,\n")
    assert "Note: the dwelling is not connected (since yesterday 16:51)." in bob.body
    assert "In the last 24 hours" not in bob.body and "still open" not in bob.body


async def test_two_hub_processes_send_it_once(world: World, tmp_path: Path) -> None:
    w = world
    w.registry.set_daily_summary("c-anna", True, w.clock())
    other_registry = SqliteRegistry(tmp_path / "hub.sqlite")
    other = w.other_process(other_registry)
    w.clock.advance(TO_NEXT_8)
    try:
        sent = await w.summaries.tick() + await other.tick()
    finally:
        other_registry.close()
    assert sent == 1 and len(w.sender.sent) == 1


async def test_a_failing_channel_falls_back_to_the_next(world: World) -> None:
    w = world
    anna = w.registry.contact("c-anna")
    assert anna is not None
    w.registry.update_contact(
        replace(anna, channels=("ntfy://ntfy.example.org/anna", "mailto:anna@example.org"))
    )
    w.sender.failing.add("ntfy://ntfy.example.org/anna")
    w.registry.set_daily_summary("c-anna", True, w.clock())
    w.clock.advance(TO_NEXT_8)
    assert await w.summaries.tick() == 1
    assert [t for t, _ in w.sender.sent] == ["mailto:anna@example.org"]
    # Nowhere to go at all: not sent, and not tried again that day.
    w.sender.failing.add("mailto:anna@example.org")
    w.clock.advance(24 * HOUR)
    assert await w.summaries.tick() == 0
    w.sender.failing.clear()
    assert await w.summaries.tick() == 0


def test_the_send_time_is_a_local_time_of_day() -> None:
    assert parse_time(" 07:30 ") == time(7, 30)
    for bad in ("7:30", "24:00", "08:60", "acht uur", ""):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_time(bad)
    # 2026-03-29: summer time starts in Amsterdam; 08:00 is 06:00 UTC that day.
    day, at = todays_moment(1_774_771_200.0, time(8, 0), "Europe/Amsterdam")  # 08:00 UTC
    assert day == "2026-03-29" and at == 1_774_764_000.0
    assert next_moment(at, time(8, 0), "Europe/Amsterdam") == at + 86400.0
    assert next_moment(at - 1, time(8, 0), "Europe/Amsterdam") == at


def test_the_hub_reads_the_send_time_from_its_settings(tmp_path: Path) -> None:
    from hub.app import build_hub
    from hub.config import load_settings
    from hub.errors import ConfigError

    with pytest.raises(ConfigError, match="HH:MM"):
        load_settings(None, family={"summary_time": "7 uur"})
    settings = load_settings(
        None,
        family={"summary_time": "07:30"},
        data={"dir": str(tmp_path)},
        console={"secret_key": "a-real-secret-for-the-test-0123"},
        broker={"password": "a-real-broker-secret-42"},
    )
    hub = build_hub(settings)
    try:
        assert hub.summaries is not None and hub.summaries.send_time == time(7, 30)
        assert hub.context.console.family_summary_time == "07:30"
    finally:
        import asyncio

        asyncio.run(hub.close())
