"""Small in-memory stand-ins shared by the alarm and console tests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

from alerts.model import Contact
from alerts.service import AlarmService
from hub.context import Dwelling


@dataclass
class FakeClock:
    t: float = 1_764_000_000.0  # 2025-11-24 16:00 UTC

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeDirectory:
    """ContactDirectory (and the registry's dwelling/contacts part)."""

    contacts: dict[str, list[Contact]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def contacts_for(self, dwelling_id: str) -> list[Contact]:
        return list(self.contacts.get(dwelling_id, []))

    def dwelling(self, dwelling_id: str) -> Dwelling | None:
        label = self.labels.get(dwelling_id)
        return Dwelling(dwelling_id, label) if label is not None else None

    def dwellings(self) -> list[Dwelling]:
        return [Dwelling(d, label) for d, label in self.labels.items()]


def mail_subject(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def mail_text(msg: Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


def ack_link(msg: Message) -> str:
    found = re.search(r"(https?://\S+/ack/[A-Za-z0-9_.\-]+)", mail_text(msg))
    assert found, mail_text(msg)
    return found.group(1)


def sample_directory() -> FakeDirectory:
    return FakeDirectory(
        contacts={
            "dw-001": [Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org", "nl")],
            "dw-002": [Contact("c-bob", "dw-002", "Bob Smith", "bob@example.org", "en")],
        },
        labels={"dw-001": "Unit 3, Tuinstraat", "dw-002": "Unit 7, Kerkpad"},
    )


async def _hub_process(db: str, mail_url: str, alarm_id: str) -> None:
    """A stand-in hub process for the SIGKILL tests: raise one alarm, deliver forever."""
    import asyncio
    import time

    from alerts.channels.email import EmailChannel
    from alerts.service import AlarmService, AlertSettings
    from sensors.contract import AlarmKind, AlarmMessage, Severity, new_id

    svc = AlarmService(
        Path(db),
        [EmailChannel(mail_url)],
        sample_directory(),
        AlertSettings(
            public_url="http://127.0.0.1:9",
            secret_key="test-secret-key-0123456789",
            poll_interval_s=0.05,
            renotify_interval_s=3600,
        ),
    )
    msg = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=time.time(),
        action="raise",
        alarm_id=alarm_id,
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
    )
    await svc.on_edge_alarm(msg, received_at=time.time())
    await svc.run(asyncio.Event())  # until SIGKILL


if __name__ == "__main__":
    import asyncio
    import sys

    asyncio.run(_hub_process(sys.argv[1], sys.argv[2], sys.argv[3]))


@asynccontextmanager
async def service_running(svc: AlarmService) -> AsyncIterator[AlarmService]:
    """`svc` with its delivery loop running until the block ends; closed afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        svc.close()
