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

from alerts import routing
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
    """RoutingDirectory (and the registry's dwelling/contacts part): each dwelling's
    contacts in priority order, each step waiting `wait_s`, unless `policies` says else."""

    contacts: dict[str, list[Contact]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    wait_s: float = 120.0
    policies: dict[str, routing.Policy] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    zones: dict[tuple[str, str], int] = field(default_factory=dict)

    def policy(self, dwelling_id: str) -> routing.Policy:
        found = self.policies.get(dwelling_id)
        if found is not None:
            return found
        return routing.default_policy(self.contacts_for(dwelling_id), self.wait_s)

    def alarm_centre_account(self, dwelling_id: str) -> str | None:
        return self.accounts.get(dwelling_id)

    def zone(self, dwelling_id: str, sensor_id: str) -> int:
        return self.zones.get((dwelling_id, sensor_id), 0)

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


async def _hub_process(db: str, mail_url: str, alarm_id: str, centre: str = "") -> None:
    """A stand-in hub process for the SIGKILL tests: raise one alarm, deliver forever.
    With `centre` ("host:port", account 1001 for dw-001) it also sends to an alarm centre."""
    import asyncio
    import time

    from alerts.channels.router import ChannelRouter
    from alerts.dc09.link import Dc09Link, LinkSettings, Receiver
    from alerts.service import AlarmService, AlertSettings
    from sensors.contract import AlarmKind, AlarmMessage, Severity, new_id

    link = None
    directory = sample_directory()
    if centre:
        host, port = centre.rsplit(":", 1)
        link = Dc09Link(LinkSettings(primary=Receiver(host, int(port)), ack_timeout_s=60.0))
        directory.accounts["dw-001"] = "1001"
    from tests.ops_store import ops_file

    svc = AlarmService(
        ops_file(Path(db)),
        ChannelRouter(mail_url, None),
        directory,
        AlertSettings(
            public_url="http://127.0.0.1:9",
            secret_key="test-secret-key-0123456789",
            poll_interval_s=0.05,
            step_wait_s=3600,
        ),
        centre=link,
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

    asyncio.run(_hub_process(*sys.argv[1:5]))


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
        svc.store.engine.dispose()
