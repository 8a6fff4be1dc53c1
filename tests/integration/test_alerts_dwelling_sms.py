"""The hub and a dwelling that texted its mantelzorgers itself (the edge's GSM fallback):
the contacts it reached get no second message, the others (and the centre) still do.
Real SMTP for the hub's own mail; the escalation ticked by hand on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import pytest

from alerts.channels.router import ChannelRouter
from alerts.model import AlarmKind, AlarmState, Severity
from alerts.service import AlarmService, AlertSettings
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock, sample_directory
from tests.ops_store import ops_file
from tests.servers import SmtpSink

pytestmark = pytest.mark.integration

T = 1_764_000_000.0
ANNA = "anna@example.org"


def raise_msg(alarm_id: str, **detail: float | int | str) -> AlarmMessage:
    return AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=T,
        action="raise",
        alarm_id=alarm_id,
        kind=AlarmKind.INACTIVITY,
        severity=Severity.MEDIUM,
        detail=detail,
    )


def report(alarm_id: str, to: str, failed: int = 0) -> AlarmMessage:
    return raise_msg(alarm_id, fallback_s=120.0, sms_at=T + 120, sms_to=to, sms_failed=failed)


@contextmanager
def service(db: Path, smtp: SmtpSink, clock: FakeClock) -> Iterator[AlarmService]:
    svc = AlarmService(
        ops_file(db),
        ChannelRouter(f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure", None),
        sample_directory(),
        AlertSettings(public_url="http://127.0.0.1:9", secret_key="test-secret-key-0123456789"),
        clock,
    )
    try:
        yield svc
    finally:
        svc.close()
        svc.store.engine.dispose()


def mails_to(smtp: SmtpSink, address: str) -> list[Message]:
    return [m for m in smtp.messages if m["To"] == address]


async def test_a_late_alarm_the_dwelling_texted_gets_no_second_message(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock(T + 300)  # the hub was away for five minutes
    with service(tmp_path / "hub.sqlite", smtp, clock) as svc:
        aid = new_id()
        await svc.on_edge_alarm(raise_msg(aid, fallback_s=120.0), received_at=clock())
        await svc.tick()
        assert mails_to(smtp, ANNA) == []  # held: the dwelling's report may follow
        clock.advance(0.1)
        await svc.on_edge_alarm(report(aid, "c-anna"), received_at=clock())
        for _ in range(3):
            await svc.tick()
            clock.advance(3600)
        assert mails_to(smtp, ANNA) == []
        alarm = svc.get(aid)
        assert alarm is not None and alarm.state is AlarmState.NOTIFIED
        whats = [(e.what, e.by) for e in svc.timeline(aid)]
        assert ("notified", "edge") in whats and ("texted_by_dwelling", "edge") in whats
        # A repeated report (the edge resends until the hub's receipt) changes nothing.
        await svc.on_edge_alarm(report(aid, "c-anna"), received_at=clock())
        assert svc.get(aid).notifications_sent == 1  # type: ignore[union-attr]


async def test_a_late_alarm_without_a_report_is_mailed_after_the_wait(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock(T + 300)
    with service(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.on_edge_alarm(raise_msg(new_id(), fallback_s=120.0), received_at=clock())
        clock.advance(29)
        await svc.tick()
        assert mails_to(smtp, ANNA) == []
        clock.advance(1)  # DWELLING_SMS_WAIT_S: the edge did not text (no modem, say)
        await svc.tick()
        assert len(mails_to(smtp, ANNA)) == 1


async def test_an_alarm_in_time_or_a_report_of_nobody_reached_is_mailed_at_once(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock(T + 1)
    with service(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.on_edge_alarm(raise_msg(new_id(), fallback_s=120.0), received_at=clock())
        await svc.tick()
        assert len(mails_to(smtp, ANNA)) == 1  # in time: the edge had its receipt
        clock.advance(600)
        late = new_id()
        await svc.on_edge_alarm(raise_msg(late, fallback_s=120.0), received_at=clock())
        await svc.on_edge_alarm(report(late, "", failed=1), received_at=clock())
        await svc.tick()
        assert len(mails_to(smtp, ANNA)) == 2  # the dwelling reached nobody: the hub does
        # A fallback_s shorter than the receipt margin: in time is within half of it.
        clock.advance(600)  # past the mail fold window
        quick = raise_msg(new_id(), fallback_s=2.0).model_copy(update={"ts": clock() - 0.5})
        await svc.on_edge_alarm(quick, received_at=clock())
        await svc.tick()
        assert len(mails_to(smtp, ANNA)) == 3


async def test_a_report_whose_raise_was_lost_is_the_alarm(tmp_path: Path, smtp: SmtpSink) -> None:
    clock = FakeClock(T + 300)
    with service(tmp_path / "hub.sqlite", smtp, clock) as svc:
        aid = new_id()
        await svc.on_edge_alarm(report(aid, "c-anna"), received_at=clock())
        await svc.tick()
        alarm = svc.get(aid)
        assert alarm is not None and alarm.raised_at == T and alarm.state is AlarmState.NOTIFIED
        assert mails_to(smtp, ANNA) == []
