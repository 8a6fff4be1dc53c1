"""An alarm storm over real SMTP: one mail thread for the family, others not held up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import Message
from pathlib import Path

import pytest

from alerts.channels.router import ChannelRouter
from alerts.model import AlarmKind, AlarmState, Severity
from alerts.service import AlarmService, AlertSettings
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import (
    FakeClock,
    ack_link,
    mail_subject,
    mail_text,
    sample_directory,
    service_running,
)
from tests.ops_store import ops_file
from tests.servers import SmtpSink, wait_until

pytestmark = pytest.mark.integration

DW, OTHER = "dw-001", "dw-002"  # Anna's dwelling, Bob's
SECRET = "test-secret-key-0123456789"


def raise_msg(
    dwelling: str = DW, severity: Severity = Severity.HIGH, kind: AlarmKind = AlarmKind.PERSONAL
) -> AlarmMessage:
    return AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=1_764_000_000.0,
        action="raise",
        alarm_id=new_id(),
        kind=kind,
        severity=severity,
        sensor="pendant-1",
    )


@asynccontextmanager
async def running(
    db: Path, smtp: SmtpSink, clock: FakeClock, **kw: object
) -> AsyncIterator[AlarmService]:
    settings: dict[str, object] = {
        "public_url": "http://127.0.0.1:9",
        "secret_key": SECRET,
        "step_wait_s": 300.0,
        "poll_interval_s": 0.02,
    }
    settings.update(kw)
    base_url = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure"
    svc = AlarmService(
        ops_file(db),
        ChannelRouter(base_url, None),
        sample_directory(),
        AlertSettings(**settings),  # type: ignore[arg-type]
        clock,
    )
    async with service_running(svc):
        yield svc


def to(smtp: SmtpSink, address: str) -> list[Message]:
    return [m for m in smtp.messages if m["To"] == address]


async def test_a_storm_of_200_is_two_mails_and_another_dwelling_goes_first(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        first = raise_msg()
        await svc.on_edge_alarm(first, received_at=clock())
        await wait_until(lambda: len(to(smtp, "anna@example.org")) == 1)
        storm = [
            raise_msg(kind=AlarmKind.FALL if i == 5 else AlarmKind.PERSONAL) for i in range(199)
        ]
        for msg in storm:
            clock.advance(0.05)
            await svc.on_edge_alarm(msg, received_at=clock())
        clock.advance(1)
        other = raise_msg(OTHER, Severity.MEDIUM)
        await svc.on_edge_alarm(other, received_at=clock())
        # The other dwelling's alarm, raised after the storm, is mailed while it waits.
        await wait_until(lambda: len(to(smtp, "bob@example.org")) == 1)
        assert len(to(smtp, "anna@example.org")) == 1

        clock.advance(120)  # the fold window has passed: one mail for the rest
        await wait_until(lambda: len(to(smtp, "anna@example.org")) == 2)
        await wait_until(
            lambda: all(a.state is AlarmState.NOTIFIED for a in svc.open_alarms()), timeout=20
        )
        assert len(svc.open_alarms()) == 201
        assert smtp.messages.index(to(smtp, "bob@example.org")[0]) < smtp.messages.index(
            to(smtp, "anna@example.org")[1]
        )
        folded = to(smtp, "anna@example.org")[1]
        assert mail_subject(folded) == (
            "ALARM: persoonlijk alarm — Unit 3, Tuinstraat (en 198 andere meldingen)"
        )
        text = mail_text(folded)
        assert "199 meldingen" in text and "… en nog 188 andere meldingen." in text
        assert "- 17:00:00  val (urgentie: hoog)" in text  # storm[5], among the ten listed

        # Both mails are one thread for the mail client.
        one, two = to(smtp, "anna@example.org")
        assert one["References"] and one["References"] == two["References"]
        assert two["In-Reply-To"] == two["References"]
        assert to(smtp, "bob@example.org")[0]["References"] != one["References"]

        # Each folded alarm's audit trail says how it went out (a pendant: the alarm
        # centre holds it from the start).
        log = svc.history(storm[0].alarm_id)
        assert [w for _, w, _, _ in log] == ["raised", "handed_to_centre", "notified"]
        assert "gebundeld" in log[-1][3] and "199 meldingen" in log[-1][3]
        assert svc.get(storm[0].alarm_id).notifications_sent == 1  # type: ignore[union-attr]

        # The folded mail's one link acknowledges every alarm it carried, and only those.
        token = ack_link(folded).rsplit("/", 1)[1]
        await svc.acknowledge_link(token, "ik ga kijken")
        states = {a.id: a.state for a in svc.open_alarms()}
        assert all(states[m.alarm_id] is AlarmState.ACKNOWLEDGED for m in storm)
        assert states[first.alarm_id] is AlarmState.NOTIFIED
        assert states[other.alarm_id] is AlarmState.NOTIFIED
        rec = svc.get(storm[42].alarm_id)
        assert rec is not None and rec.acknowledged_by == "Anna de Vries (mantelzorger)"
    assert len(to(smtp, "anna@example.org")) == 2


async def test_a_more_severe_alarm_is_not_held_by_the_window(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.on_edge_alarm(raise_msg(severity=Severity.HIGH), received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        clock.advance(1)
        held = raise_msg(severity=Severity.MEDIUM)
        await svc.on_edge_alarm(held, received_at=clock())
        await svc.tick()
        assert len(smtp.messages) == 1
        clock.advance(1)
        worse = raise_msg(severity=Severity.CRITICAL, kind=AlarmKind.FALL)
        await svc.on_edge_alarm(worse, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 2)
        assert mail_subject(smtp.messages[1]) == (
            "ALARM: val — Unit 3, Tuinstraat (en 1 andere melding)"
        )
        await wait_until(lambda: svc.get(held.alarm_id).state is AlarmState.NOTIFIED)  # type: ignore[union-attr]


async def test_technical_alarms_for_operators_only_are_never_mailed(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.raise_technical(DW, "refused", Severity.LOW, {"budget_readings": 270}, clock())
        for _ in range(3):
            await svc.tick()
            clock.advance(400)  # re-notification rounds fall due: still nothing
        assert smtp.messages == []
        (refused,) = svc.open_alarms()
        assert refused.detail["key"] == "refused" and refused.state is AlarmState.RAISED
        assert svc.store.outbox(refused.id) == []
        # Other technical alarms still reach the family.
        await svc.raise_technical(DW, "offline", Severity.LOW, {}, clock())
        await wait_until(lambda: len(smtp.messages) == 1)
    async with running(
        tmp_path / "other.sqlite", smtp, clock, operator_only_keys=frozenset({"offline"})
    ) as svc:
        await svc.raise_technical(OTHER, "offline", Severity.LOW, {}, clock())
        await svc.tick()
        assert len(smtp.messages) == 1
