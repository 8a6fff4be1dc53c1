"""No mantelzorger's e-mail address in the logs, at INFO and above, for a real delivery.

The probe found them at INFO: apprise logs "Sent Email to <recipient>" (and its warnings
name the recipient too), and the demo's mail sink logged the recipients of every mail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from alerts.channels.email import RedactAddresses
from alerts.channels.router import ChannelRouter
from alerts.model import AlarmKind, Contact, Severity
from alerts.service import AlarmService, AlertSettings
from hub.context import Dwelling
from hub.registry import SqliteRegistry
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock, ack_link, service_running
from tests.ops_store import ops_engine
from tests.servers import SmtpSink, free_port, wait_until

pytestmark = pytest.mark.integration

ADDRESS = "anna.private@example.org"
SECRET = "test-secret-key-0123456789"


@asynccontextmanager
async def delivering(tmp_path: Path, smtp_port: int) -> AsyncIterator[AlarmService]:
    registry = SqliteRegistry(tmp_path / "hub.sqlite")
    registry.add_dwelling(Dwelling("dw-001", "Unit 3, Tuinstraat"))
    registry.add_contact(Contact("c-anna", "dw-001", "Anna de Vries", ADDRESS))
    url = f"mailto://127.0.0.1:{smtp_port}?from=alarm@mz.local&mode=insecure"
    settings = AlertSettings(
        public_url="http://127.0.0.1:9",
        secret_key=SECRET,
        poll_interval_s=0.02,
        retry_backoff_s=0.05,
        attempts_per_target=2,
    )
    svc = AlarmService(
        ops_engine(tmp_path), ChannelRouter(url, None), registry, settings, FakeClock()
    )
    try:
        async with service_running(svc):
            yield svc
    finally:
        registry.close()


async def raise_alarm(svc: AlarmService) -> str:
    msg = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=1_764_000_000.0,
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
    )
    await svc.on_edge_alarm(msg, received_at=1_764_000_000.0)
    return msg.alarm_id


def leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for r in records:
        text = r.getMessage() + (
            logging.Formatter().formatException(r.exc_info) if r.exc_info else ""
        )
        if "anna.private" in text:
            found.append(f"{r.name} {r.levelname}: {text}")
    return found


async def test_a_delivered_and_acknowledged_alarm_logs_no_address(
    tmp_path: Path, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # every logger at INFO, as `mz hub run` sets it up
    async with delivering(tmp_path, smtp.port) as svc:
        await raise_alarm(svc)
        await wait_until(lambda: len(smtp.messages) == 1)
        assert smtp.messages[0]["To"] == ADDRESS  # delivered to the address itself
        await svc.acknowledge_link(ack_link(smtp.messages[0]).rsplit("/", 1)[1], "")
    # "mail.log" is aiosmtpd, the stand-in for the mantelzorger's mail server: its log is
    # not the hub's (a hub never runs it; the demo quiets it, see the next test).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert leaks(ours) == []
    sent = [r.getMessage() for r in ours if r.name == "apprise"]
    assert "Sent Email to <address>" in sent  # apprise did log it: redacted


class RefusingSink(SmtpSink):
    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        return "550 5.1.1 no such mailbox"


async def test_a_refused_recipient_is_logged_without_its_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aiosmtpd.controller import Controller

    caplog.set_level(logging.INFO)
    sink = RefusingSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        async with delivering(tmp_path, sink.port) as svc:
            await raise_alarm(svc)
            # The first attempt fails (the retry waits on the fake clock).
            await wait_until(
                lambda: any(
                    r.name == "alerts.service" and "failed" in r.msg for r in caplog.records
                )
            )
    finally:
        controller.stop()
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert 'Sending email to "<address>" failed.' in [r.getMessage() for r in ours]
    assert leaks(ours) == []


async def test_the_demos_mail_sink_logs_no_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aiosmtpd.controller import Controller

    from simulators.demo_cli import NOISY_LOGGERS
    from simulators.mail_sink import MailSink

    for name in NOISY_LOGGERS:  # as `mz demo` sets up logging
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.INFO)  # last: it also sets the capturing handler's level
    sink = MailSink(clock=time.time)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with delivering(tmp_path, port) as svc:
            await raise_alarm(svc)
            # The sink logs from aiosmtpd's thread, just after it keeps the mail.
            await wait_until(lambda: any(r.name == "simulators.mail_sink" for r in caplog.records))
    finally:
        controller.stop()
    assert sink.mails[0].recipients == (ADDRESS,)
    assert leaks(caplog.records) == []  # every logger, the sink's and aiosmtpd's included


def test_the_filter_redacts_addresses_in_messages_and_arguments() -> None:
    record = logging.LogRecord(
        "apprise", logging.WARNING, __file__, 1, 'Sending email to "%s" failed.', (ADDRESS,), None
    )
    assert RedactAddresses().filter(record)
    assert record.getMessage() == 'Sending email to "<address>" failed.'
    plain = logging.LogRecord("apprise", logging.INFO, __file__, 1, "%d mails", (3,), None)
    RedactAddresses().filter(plain)
    assert plain.getMessage() == "3 mails" and plain.args == (3,)
