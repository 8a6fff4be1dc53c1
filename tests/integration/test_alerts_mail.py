"""Alarm -> real SMTP (aiosmtpd) through apprise: delivery, ack link, escalation, restart."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from alerts.channels.router import ChannelRouter
from alerts.model import (
    AlarmChange,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    Contact,
    Outcome,
    Response,
    Severity,
)
from alerts.service import AlarmService, AlertSettings
from alerts.store import OutboxStatus
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import (
    FakeClock,
    FakeDirectory,
    ack_link,
    mail_subject,
    mail_text,
    service_running,
)
from tests.ops_store import existing_store, ops_file
from tests.servers import SmtpSink, wait_until

pytestmark = pytest.mark.integration

DW = "dw-001"
SECRET = "test-secret-key-0123456789"


def directory(*, neighbour: bool = False) -> FakeDirectory:
    """dw-001 with Anna (and, with `neighbour`, Piet asked second); dw-002 with Bob."""
    anna = Contact("c-anna", DW, "Anna de Vries", "anna@example.org", "nl")
    piet = Contact("c-piet", DW, "Piet Jansen", "piet@example.org", "nl", priority=2)
    return FakeDirectory(
        contacts={
            DW: [anna, piet] if neighbour else [anna],
            "dw-002": [Contact("c-bob", "dw-002", "Bob Smith", "bob@example.org", "en")],
        },
        labels={DW: "Unit 3, Tuinstraat", "dw-002": "Unit 7, Kerkpad"},
        wait_s=30.0,
    )


def settings(**kw: object) -> AlertSettings:
    base: dict[str, object] = {
        "public_url": "http://127.0.0.1:9",
        "secret_key": SECRET,
        "step_wait_s": 30.0,
        "poll_interval_s": 0.02,
        "retry_backoff_s": 0.05,
    }
    base.update(kw)
    return AlertSettings(**base)  # type: ignore[arg-type]


def raise_msg(
    dwelling: str = DW,
    kind: AlarmKind = AlarmKind.PERSONAL,
    alarm_id: str | None = None,
    severity: Severity = Severity.HIGH,
) -> AlarmMessage:
    return AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=1_764_000_000.0,
        action="raise",
        alarm_id=alarm_id or new_id(),
        kind=kind,
        severity=severity,
        sensor="pendant-1",
    )


@asynccontextmanager
async def running(
    db: Path,
    smtp: SmtpSink,
    clock: FakeClock,
    *,
    contacts: FakeDirectory | None = None,
    **kw: object,
) -> AsyncIterator[AlarmService]:
    base_url = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure"
    svc = AlarmService(
        ops_file(db), ChannelRouter(base_url, None), contacts or directory(), settings(**kw), clock
    )
    async with service_running(svc):
        yield svc


async def test_alarm_is_mailed_in_dutch_with_a_working_ack_link(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    changes: list[AlarmChange] = []
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        svc.add_listener(changes.append)
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        mail = smtp.messages[0]
        assert mail["To"] == "anna@example.org"
        assert mail_subject(mail) == "ALARM: persoonlijk alarm — Unit 3, Tuinstraat"
        text = mail_text(mail)
        assert "Beste Anna de Vries" in text
        assert "24-11-2025 17:00:00 CET" in text  # Europe/Amsterdam, not UTC
        # A pendant: the alarm centre holds it at once, the family is told in parallel.
        await wait_until(lambda: "notified" in [c.what for c in changes])
        assert [c.what for c in changes] == ["raised", "handed_to_centre", "notified"]
        assert changes[-1].alarm.state is AlarmState.NOTIFIED

        token = ack_link(mail).rsplit("/", 1)[1]
        rec = await svc.acknowledge_link(token, "ik ga kijken")
        assert rec.state is AlarmState.ACKNOWLEDGED
        assert rec.acknowledged_by == "Anna de Vries (mantelzorger)"
        assert [c.what for c in changes] == ["raised", "handed_to_centre", "notified", "on_my_way"]
        stats = svc.stats()
        assert (stats.total, stats.open, stats.by_state["acknowledged"]) == (1, 1, 1)
        assert stats.received_to_notified.count == 1 and stats.received_to_acknowledged.count == 1
        assert stats.notifications == {"sent": 1}

        # Taken on: nobody else is asked when the step's wait passes.
        clock.advance(31)
        await svc.tick()
        assert len(smtp.messages) == 1


async def test_english_contact_gets_english_mail(tmp_path: Path, smtp: SmtpSink) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.on_edge_alarm(raise_msg("dw-002", AlarmKind.FALL), received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        assert mail_subject(smtp.messages[0]) == "ALARM: fall — Unit 7, Kerkpad"
        assert "Dear Bob Smith" in mail_text(smtp.messages[0])


# -- mails that fail safe (issue 9) ----------------------------------------------------------

BIG_INT = int("9" * 400)


def stored_before_the_strict_contract(clock: FakeClock) -> AlarmRecord:
    """The probe's poisoned alarm as an old hub stored it: a 400-digit `*_s` detail, a
    source time of 1e18 and a fake "confirm via" line in a text."""
    return AlarmRecord(
        id=new_id(),
        dwelling=DW,
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=1e18,
        received_at=clock(),
        detail={"for_s": BIG_INT, "note": "ok\nBevestig via https://evil.example/ack"},
    )


async def test_a_poisoned_alarm_is_mailed_and_its_link_works(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        rec = stored_before_the_strict_contract(clock)
        assert svc.store.insert_alarm(rec)
        await wait_until(lambda: len(smtp.messages) == 1)
        mail = smtp.messages[0]
        assert mail_subject(mail) == "ALARM: persoonlijk alarm — Unit 3, Tuinstraat"
        text = mail_text(mail)
        assert "evil" not in text and "Bevestig via https" not in text
        assert "Tijdstip: niet weer te geven" in text
        await wait_until(lambda: (r := svc.get(rec.id)) is not None and r.notified_at is not None)
        token = ack_link(mail).rsplit("/", 1)[1]
        acked = await svc.acknowledge_link(token, "")
        assert acked.state is AlarmState.ACKNOWLEDGED


async def test_a_mail_that_cannot_be_formatted_goes_out_minimal(
    tmp_path: Path,
    smtp: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from alerts import present

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("a formatting bug nobody has seen yet")

    monkeypatch.setattr(present, "details", broken)
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        text = mail_text(smtp.messages[0])
        assert mail_subject(smtp.messages[0]) == "ALARM: persoonlijk alarm — Unit 3, Tuinstraat"
        assert f"(kenmerk {msg.alarm_id})" in text and "Tijdstip: 24-11-2025 17:00:00 CET" in text
        await wait_until(lambda: (r := svc.get(msg.alarm_id)) is not None and r.notified_at)
        rec = await svc.acknowledge_link(ack_link(smtp.messages[0]).rsplit("/", 1)[1], "")
        assert rec.state is AlarmState.ACKNOWLEDGED
    warned = [
        r for r in caplog.records if r.levelno >= logging.WARNING and msg.alarm_id in r.getMessage()
    ]
    assert [r.levelname for r in warned] == ["WARNING"]  # once, and no ERROR: nothing lost


async def test_text_from_the_wire_is_no_link_in_the_mail(tmp_path: Path, smtp: SmtpSink) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        msg = AlarmMessage(
            id=new_id(),
            dwelling=DW,
            ts=1_764_000_000.0,
            action="raise",
            alarm_id=new_id(),
            kind=AlarmKind.PERSONAL,
            severity=Severity.HIGH,
            detail={"note": "evil.example/ack", "press": "press"},  # printable: on the wire
        )
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        text = mail_text(smtp.messages[0])
        assert "evil" not in text
        assert "Details: knop ingedrukt" in text  # an unknown key is left out of a mail


async def test_an_alarm_nobody_takes_on_goes_to_the_next_contact_after_the_wait(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(
        tmp_path / "hub.sqlite", smtp, clock, contacts=directory(neighbour=True)
    ) as svc:
        msg = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        assert smtp.messages[0]["To"] == "anna@example.org"
        clock.advance(29)
        await svc.tick()
        assert len(smtp.messages) == 1  # Anna's step still waits
        clock.advance(2)
        await wait_until(lambda: len(smtp.messages) == 2)
        assert smtp.messages[1]["To"] == "piet@example.org"
        await wait_until(lambda: svc.get(msg.alarm_id).notifications_sent == 2)  # type: ignore[union-attr]

        # Cancel from the edge resolves it and stops the escalation; the two who were
        # told get an all-clear each (the resident moves again), nobody anything else.
        cancel = msg.model_copy(update={"id": new_id(), "action": "cancel"})
        await svc.on_edge_alarm(cancel, received_at=clock())
        rec = svc.get(msg.alarm_id)
        assert rec is not None and rec.state is AlarmState.RESOLVED and rec.resolved_by == "edge"
        await svc.tick()
        await wait_until(lambda: len(smtp.messages) == 4)
        clears = smtp.messages[2:]
        assert sorted(str(m["To"]) for m in clears) == ["anna@example.org", "piet@example.org"]
        for m in clears:
            assert mail_subject(m).startswith("Voorbij: ")
            assert "er is weer beweging gezien" in mail_text(m)
            assert "http" not in mail_text(m)  # nothing to take on: no link
        clock.advance(3600)
        await svc.tick()
        assert len(smtp.messages) == 4
        assert rec.centre_handed_at is None


async def test_nobody_takes_it_on_so_it_goes_to_the_alarm_centre(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(
        tmp_path / "hub.sqlite", smtp, clock, contacts=directory(neighbour=True)
    ) as svc:
        msg = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        clock.advance(31)
        await wait_until(lambda: len(smtp.messages) == 2)
        # The mail is at the server before the hub records it sent: wait for the record.
        await wait_until(lambda: svc.get(msg.alarm_id).notifications_sent == 2)  # type: ignore[union-attr]
        clock.advance(30)
        await svc.tick()
        rec = svc.get(msg.alarm_id)
        assert rec is not None and rec.centre_required and rec.centre_handed_at == clock()
        whats = [e.what for e in svc.timeline(msg.alarm_id)]
        assert whats.count("notified") == 2 and "handed_to_centre" in whats
        # A mantelzorger's close now records their outcome; the alarm stays the centre's.
        token = ack_link(smtp.messages[0]).rsplit("/", 1)[1]
        rec = await svc.respond_link(token, Response.CLOSED, "", Outcome.FALSE_ALARM)
        assert rec.state is AlarmState.ACKNOWLEDGED and rec.response is Response.CLOSED
        rec = await svc.close_alarm(msg.alarm_id, "op", Outcome.FALSE_ALARM, "", clock())
        assert rec.state is AlarmState.RESOLVED and rec.outcome is Outcome.FALSE_ALARM


async def test_restart_on_the_same_db_sends_no_duplicate_and_keeps_the_alarm(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    db = tmp_path / "hub.sqlite"
    clock = FakeClock()
    msg = raise_msg(kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
    two = directory(neighbour=True)
    async with running(db, smtp, clock, contacts=two) as svc:
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(lambda: len(smtp.messages) == 1)
    clock.advance(5)
    async with running(db, smtp, clock, contacts=two) as svc:
        # The redelivered MQTT message after the restart must not raise it again.
        await svc.on_edge_alarm(msg, received_at=clock())
        await svc.tick()
        assert len(smtp.messages) == 1
        assert [a.id for a in svc.open_alarms()] == [msg.alarm_id]
        # ...and the escalation carries on where it was: step 1 at received_at + 30 s.
        clock.advance(26)
        await wait_until(lambda: len(smtp.messages) == 2)
        assert smtp.messages[1]["To"] == "piet@example.org"


async def test_a_send_interrupted_by_a_crash_is_marked_unknown_not_resent(
    tmp_path: Path, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hub.sqlite"
    clock = FakeClock()
    msg = raise_msg()
    # A hub that claimed the notification and died before marking it sent (SIGKILL):
    # the same thing as claiming it by hand and never finishing.
    crashed = AlarmService(
        ops_file(db), ChannelRouter(smtp.apprise_url(), None), directory(), settings(), clock
    )
    await crashed.on_edge_alarm(msg, received_at=clock())
    await crashed._schedule(clock())
    row = crashed.store.claim("dead-worker", clock())
    assert row is not None
    crashed.close()
    crashed.store.engine.dispose()

    clock.advance(200)  # past sending_lease_s (120 s)
    async with running(db, smtp, clock, step_wait_s=1000.0) as svc:
        await svc.tick()
        assert [r.status for r in svc.store.outbox(msg.alarm_id)] == [OutboxStatus.UNKNOWN]
        assert smtp.messages == []
        assert "left 'sending' by dead-worker" in caplog.text
        rec = svc.get(msg.alarm_id)
        assert rec is not None and rec.state is not AlarmState.RESOLVED


async def test_technical_alarm_is_mailed_once_per_key_and_cleared(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock()
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.raise_technical(DW, "offline", Severity.LOW, {"last_seen_s": 95}, clock())
        await svc.raise_technical(DW, "offline", Severity.LOW, {"last_seen_s": 96}, clock())
        await wait_until(lambda: len(smtp.messages) == 1)
        assert mail_subject(smtp.messages[0]) == "Storing: woning offline — Unit 3, Tuinstraat"
        assert len(svc.open_alarms()) == 1
        await svc.clear_technical(DW, "offline", clock())
        assert svc.open_alarms() == []


async def test_technical_alarm_at_night_is_not_mailed_to_family(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    clock = FakeClock(1_764_036_000.0)  # 2025-11-25 03:00 in Amsterdam
    async with running(tmp_path / "hub.sqlite", smtp, clock) as svc:
        await svc.raise_technical(DW, "offline", Severity.LOW, {}, clock())
        await svc.tick()
        clock.advance(3600)
        await svc.tick()
        assert smtp.messages == []
        assert len(svc.open_alarms()) == 1  # the operators' queue has it


async def test_smtp_down_is_retried_then_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.servers import free_port

    clock = FakeClock()
    dead = SmtpSink(port=free_port())  # nobody listens there
    async with running(
        tmp_path / "hub.sqlite", dead, clock, attempts_per_target=2, retry_backoff_s=1.0
    ) as svc:
        msg = raise_msg()
        await svc.on_edge_alarm(msg, received_at=clock())
        await wait_until(
            lambda: (
                [(r.status, r.attempts) for r in svc.store.outbox(msg.alarm_id)]
                == [(OutboxStatus.PENDING, 1)]
            )
        )
        clock.advance(1.5)  # past the 1 s backoff
        await wait_until(
            lambda: (
                [(r.status, r.attempts) for r in svc.store.outbox(msg.alarm_id)]
                == [(OutboxStatus.FAILED, 2)]
            )
        )
    assert any(r.levelname == "ERROR" and "NOT delivered" in r.getMessage() for r in caplog.records)


def _start_hub_process(db: Path, mail_url: str, alarm_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.alarm_fakes", str(db), mail_url, alarm_id],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _statuses(db: Path, alarm_id: str) -> list[OutboxStatus]:
    with existing_store(db) as store:
        return [] if store is None else [r.status for r in store.outbox(alarm_id)]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stderr is not None:
        proc.stderr.close()


async def test_sigkill_after_sending_no_duplicate_and_alarm_kept(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    db = tmp_path / "hub.sqlite"
    alarm_id = new_id()
    base_url = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure"
    proc = _start_hub_process(db, base_url, alarm_id)
    try:
        await wait_until(lambda: len(smtp.messages) == 1, timeout=30)
        await wait_until(lambda: _statuses(db, alarm_id) == [OutboxStatus.SENT], timeout=10)
    finally:
        _kill(proc)
    clock = FakeClock(time.time() + 60)
    async with running(db, smtp, clock, step_wait_s=3600.0) as svc:
        await svc.tick()
        assert len(smtp.messages) == 1
        assert [a.id for a in svc.open_alarms()] == [alarm_id]
        rec = svc.get(alarm_id)
        assert rec is not None and rec.state is AlarmState.NOTIFIED


async def test_sigkill_mid_send_is_not_resent(
    tmp_path: Path, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hub.sqlite"
    alarm_id = new_id()
    # An SMTP server that accepts the connection and never says hello: the send hangs.
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        port = stalled.getsockname()[1]
        proc = _start_hub_process(
            db, f"mailto://127.0.0.1:{port}?from=a@mz.local&mode=insecure", alarm_id
        )
        try:
            await wait_until(lambda: _statuses(db, alarm_id) == [OutboxStatus.SENDING], timeout=30)
        finally:
            _kill(proc)
    clock = FakeClock(time.time() + 200)  # past sending_lease_s
    async with running(db, smtp, clock, step_wait_s=3600.0) as svc:
        await svc.tick()
        assert [r.status for r in svc.store.outbox(alarm_id)] == [OutboxStatus.UNKNOWN]
        assert smtp.messages == []
        assert [a.id for a in svc.open_alarms()] == [alarm_id]
    assert "marked unknown and not resent" in caplog.text
