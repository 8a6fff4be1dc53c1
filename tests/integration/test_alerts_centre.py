"""Alarms through the durable outbox to a real SIA DC-09 receiver (pysiaalarm) and to real
SMTP: the severity shortcut, encryption, restores, a receiver that is down and comes back,
and a hub killed mid-send (never an event twice)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from alerts.channels.router import ChannelRouter
from alerts.dc09.link import Dc09Link, LinkSettings, Receiver
from alerts.model import AlarmRecord, AlarmState, Contact, Outcome
from alerts.service import AlarmService, AlertSettings
from alerts.store import OutboxStatus
from sensors.contract import AlarmKind, AlarmMessage, Severity, new_id
from tests.integration.alarm_fakes import FakeDirectory, service_running
from tests.ops_store import existing_store, ops_file
from tests.servers import SiaReceiver, SmtpSink, free_port, wait_until

pytestmark = pytest.mark.integration

DW = "dw-001"
ACCOUNT = "1001"
KEY = "0123456789ABCDEF"  # 16 hex characters: AES-128 (pysiaalarm uses the ASCII bytes)
SECRET = "test-secret-key-0123456789"


def directory() -> FakeDirectory:
    return FakeDirectory(
        contacts={DW: [Contact("c-anna", DW, "Anna de Vries", "anna@example.org", "nl")]},
        labels={DW: "Unit 3, Tuinstraat"},
        accounts={DW: ACCOUNT},
        zones={(DW, "pendant-1"): 7},
    )


def alarm(kind: AlarmKind = AlarmKind.PERSONAL, severity: Severity = Severity.HIGH) -> AlarmMessage:
    return AlarmMessage(
        id=new_id(),
        dwelling=DW,
        ts=time.time(),
        action="raise",
        alarm_id=new_id(),
        kind=kind,
        severity=severity,
        sensor="pendant-1",
    )


@asynccontextmanager
async def running(
    db: Path,
    smtp: SmtpSink,
    receiver_port: int,
    *,
    key: str | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[AlarmService]:
    # Real time throughout: the receiver refuses timestamps more than 40 s off its clock.
    link = Dc09Link(
        LinkSettings(
            primary=Receiver("127.0.0.1", receiver_port),
            keys={ACCOUNT: key} if key else {},
            ack_timeout_s=5.0,
            connect_timeout_s=2.0,
            backoff_s=0.1,
            link_test_interval_s=3600.0,
        )
    )
    mail = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure"
    svc = AlarmService(
        ops_file(db),
        ChannelRouter(mail, None),
        directory(),
        AlertSettings(
            public_url="http://127.0.0.1:9",
            secret_key=SECRET,
            poll_interval_s=0.05,
            retry_backoff_s=0.05,
            step_wait_s=3600.0,
        ),
        clock,
        centre=link,
    )
    async with service_running(svc):
        yield svc


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "aes"])
async def test_pendant_goes_to_the_centre_at_once_and_to_family_in_parallel(
    tmp_path: Path, smtp: SmtpSink, key: str | None
) -> None:
    receiver = SiaReceiver(free_port(), {ACCOUNT: key})
    await receiver.start()
    try:
        async with running(tmp_path / "hub.sqlite", smtp, receiver.port, key=key) as svc:
            msg = alarm()
            await svc.on_edge_alarm(msg, received_at=time.time())
            await wait_until(lambda: receiver.alarms() == [(ACCOUNT, "1", "101", "007")])
            await wait_until(lambda: len(smtp.messages) == 1)
            await wait_until(lambda: centre_acked(svc, msg.alarm_id))
            assert bool(receiver.events[-1].encrypted) is (key is not None)
            rec = svc.get(msg.alarm_id)
            assert rec is not None and rec.centre_required
            # The mail server has the mail a moment before the service records it as sent.
            await wait_until(lambda: notified(svc, msg.alarm_id))
            steps = [e.what for e in svc.timeline(msg.alarm_id)]
            assert {"received", "handed_to_centre", "centre_acknowledged", "notified"} <= set(steps)

            # The operator closes it: the centre gets the restore (qualifier 3), once.
            await svc.close_alarm(msg.alarm_id, "op", Outcome.FAMILY_HELP, "", time.time())
            await wait_until(lambda: len(receiver.alarms()) == 2)
            assert receiver.alarms()[1] == (ACCOUNT, "3", "101", "007")
            await wait_until(
                lambda: "centre_restored" in [e.what for e in svc.timeline(msg.alarm_id)]
            )
    finally:
        await receiver.stop()


async def test_receiver_down_then_up_gets_every_event_once(tmp_path: Path, smtp: SmtpSink) -> None:
    receiver = SiaReceiver(free_port(), {ACCOUNT: None})  # not started: down
    async with running(tmp_path / "hub.sqlite", smtp, receiver.port) as svc:
        sent = [alarm(), alarm(AlarmKind.FALL), alarm(AlarmKind.VITALS, Severity.CRITICAL)]
        for msg in sent:
            await svc.on_edge_alarm(msg, received_at=time.time())
        # Family mail is not held up by the centre being down.
        await wait_until(lambda: all(notified(svc, m.alarm_id) for m in sent), timeout=20)
        await wait_until(
            lambda: (
                all(
                    r.attempts >= 1 and r.status is OutboxStatus.PENDING
                    for m in sent
                    for r in svc.store.outbox(m.alarm_id)
                    if r.channel == "dc09"
                )
                and len([r for m in sent for r in svc.store.outbox(m.alarm_id)]) == 6
            )
        )
        state = svc.centre_state()
        assert state is not None and not state.reachable
        # The operators see that the centre cannot be reached (and only they: no mail).
        await wait_until(lambda: link_alarm(svc) is not None)
        await receiver.start()
        try:
            await wait_until(lambda: len(receiver.alarms()) == 3, timeout=60)
            await wait_until(lambda: all(centre_acked(svc, m.alarm_id) for m in sent))
            assert sorted(code for _, _, code, _ in receiver.alarms()) == ["100", "100", "101"]
            # Nothing more comes: each event went exactly once.
            await svc.tick()
            assert len(receiver.alarms()) == 3
            assert len({e.sequence for e in receiver.events if e.event_type}) == 3
            state = svc.centre_state()
            assert state is not None and state.reachable
            await wait_until(lambda: link_alarm(svc) is None)
            assert [m["To"] for m in smtp.messages] == ["anna@example.org"] * len(smtp.messages)
        finally:
            await receiver.stop()


def link_alarm(svc: AlarmService) -> AlarmRecord | None:
    """The open operator alarm "alarm centre unreachable", if any."""
    return next((a for a in svc.open_alarms() if a.detail.get("key") == "alarm_centre_link"), None)


def notified(svc: AlarmService, alarm_id: str) -> bool:
    rec = svc.get(alarm_id)
    return rec is not None and rec.notified_at is not None


def centre_acked(svc: AlarmService, alarm_id: str) -> bool:
    rec = svc.get(alarm_id)
    return rec is not None and rec.centre_acked_at is not None


def _statuses(db: Path, alarm_id: str) -> list[tuple[str, OutboxStatus]]:
    with existing_store(db) as store:
        return [] if store is None else [(r.channel, r.status) for r in store.outbox(alarm_id)]


async def test_hub_killed_mid_send_never_sends_the_event_twice(
    tmp_path: Path, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hub.sqlite"
    alarm_id = new_id()
    mail = f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.local&mode=insecure"
    # A receiver that takes the connection and the frame and never answers: the hub is
    # killed while it waits for the ACK, so it cannot know whether the centre has it.
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        port = stalled.getsockname()[1]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.alarm_fakes",
                str(db),
                mail,
                alarm_id,
                f"127.0.0.1:{port}",
            ],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await wait_until(
                lambda: ("dc09", OutboxStatus.SENDING) in _statuses(db, alarm_id), timeout=30
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.stderr is not None
            proc.stderr.close()
    receiver = SiaReceiver(free_port(), {ACCOUNT: None})
    await receiver.start()
    try:
        # The next hub, past the sending lease: the row is 'unknown', never resent, and
        # the alarm's timeline says so for the operator.
        later = time.time() + 200  # past sending_lease_s (120 s)
        async with running(db, smtp, receiver.port, clock=lambda: later) as svc:
            await svc.tick()
            assert ("dc09", OutboxStatus.UNKNOWN) in _statuses(db, alarm_id)
            assert "unknown" in [e.what for e in svc.timeline(alarm_id)]
            await svc.tick()
            assert receiver.alarms() == []
            rec = svc.get(alarm_id)
            assert rec is not None and rec.state is not AlarmState.RESOLVED
    finally:
        await receiver.stop()
    assert "marked unknown and not resent" in caplog.text
