"""Alarm latency under load: from detection at the edge to the alarm centre's DC-09 ACK and
to the SMTP server accepting the mantelzorger's mail, with N dwellings streaming readings.

    .venv/bin/python benchmarks/bench_alarm_latency.py [--dwellings 100] [--alarms 100]
                                                       [--seconds 60] [--seed 1]

Real parts throughout: Mosquitto (the shipped configuration, one broker account per
dwelling), the real hub (`build_hub`: ingest, presence, the alarm service with its
durable outbox on SQLite), aiosmtpd as the mail server, and our simulated alarm centre
(a DC-09 receiver on loopback; AES for every account). Each dwelling is one MQTT client
under its own account that sends a status every 10 s and a batch of 10 readings every
second (QoS 1), as an edge does. Alarms are personal-alarm raises (the centre at once,
the family in parallel), `--alarms` of them at random moments over the run, each from a
different dwelling (so mail folding does not hold any); the message's `ts` is the moment
of detection. The edge agent's own spool and detector time are not in these figures
(bench_fall.py measures the detector).

Latencies are wall-clock on one machine: ACK = the hub's `centre_acked_at` (when the
receiver's ACK came back) - ts; mail = when aiosmtpd accepted the message - ts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.model import Contact
from hub.app import build_hub
from hub.config import load_settings
from hub.context import Dwelling
from sensors import contract
from simulators.alarm_centre import AlarmCentre
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    TEST_DWELLINGS,
    free_port,
    running_mosquitto,
    wait_until,
)


@dataclass
class Inbox:
    """aiosmtpd handler: when each recipient's mail was accepted."""

    accepted: dict[str, float] = field(default_factory=dict)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        for rcpt in envelope.rcpt_tos:  # type: ignore[attr-defined]
            self.accepted.setdefault(rcpt, time.time())
        return "250 Message accepted for delivery"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(q * (len(data) - 1)))]


async def dwelling(
    dw: str, url: str, stop: asyncio.Event, alarm_at: float | None, sent: dict[str, float]
) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    async with aiomqtt.Client(
        host, int(port), identifier=dw, username=dw, password=f"pw-{dw}"
    ) as client:
        start = time.time()
        last_status = 0.0
        while not stop.is_set():
            now = time.time()
            if now - last_status >= 10:
                status = contract.Status(
                    id=contract.new_id(), dwelling=dw, ts=now, online=True, heartbeat_s=10
                )
                await client.publish(*contract.encode(status), qos=1)
                last_status = now
            readings = [
                contract.Reading(
                    sensor="room-1", quantity="temperature", t=now - i / 10, value=21.0
                )
                for i in range(10)
            ]
            batch = contract.ReadingsBatch(
                id=contract.new_id(), dwelling=dw, ts=now, readings=readings
            )
            await client.publish(*contract.encode(batch), qos=1)
            if alarm_at is not None and now - start >= alarm_at:
                alarm_at = None
                detected = time.time()
                msg = contract.AlarmMessage(
                    id=contract.new_id(),
                    dwelling=dw,
                    ts=detected,
                    action="raise",
                    alarm_id=contract.new_id(),
                    kind=contract.AlarmKind.PERSONAL,
                    severity=contract.Severity.HIGH,
                    sensor="pendant-1",
                )
                sent[msg.alarm_id] = detected
                await client.publish(*contract.encode(msg), qos=1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def main(n: int, alarms: int, seconds: float, seed: int) -> None:
    from aiosmtpd.controller import Controller

    rng = random.Random(seed)
    ids = [f"dw-{i:03d}" for i in range(1, n + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "broker").mkdir()
        with running_mosquitto(root / "broker") as broker:
            print(f"adding {n} dwelling accounts to the broker ...", flush=True)
            for dw in ids:
                if dw in TEST_DWELLINGS:  # the test accounts are there already
                    broker.admin().run(
                        [{"command": "setClientPassword", "username": dw, "password": f"pw-{dw}"}]
                    )
                else:
                    broker.add_dwelling(dw, f"pw-{dw}")
            inbox = Inbox()
            smtp_port = free_port()
            smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
            smtp.start()
            keys = {f"{i:04d}": secrets.token_hex(8) for i in range(1, n + 1)}
            centre = AlarmCentre("127.0.0.1", 0, keys=keys)
            centre_port = await centre.start()
            settings = load_settings(
                None,
                broker={
                    "url": broker.url,
                    "username": HUB_USER,
                    "password": HUB_PASSWORD,
                    "client_id": "hub.bench",
                },
                data={"dir": str(root / "hub")},
                console={"enabled": False, "secret_key": secrets.token_urlsafe(24)},
                mail={
                    "url": f"mailto://127.0.0.1:{smtp_port}?from=alarm@bench.example&mode=insecure"
                },
                alarm_centre={"primary": f"127.0.0.1:{centre_port}", "keys": keys},
            )
            hub = build_hub(settings)
            for i, dw in enumerate(ids, start=1):
                hub.registry.add_dwelling(Dwelling(dw, f"Unit {i}"))
                hub.registry.add_contact(
                    Contact(f"c-{dw}", dw, f"Contact {i}", f"{dw}@bench.example")
                )
                hub.registry.set_alarm_centre_account(dw, f"{i:04d}")
            stop, ready = asyncio.Event(), asyncio.Event()
            hub_task = asyncio.create_task(hub.run(stop, ready))
            await wait_until(ready.is_set, timeout=20)
            chosen = rng.sample(ids, min(alarms, n))
            moments = {dw: rng.uniform(5, seconds - 10) for dw in chosen}
            sent: dict[str, float] = {}
            sims_stop = asyncio.Event()
            sims = [
                asyncio.create_task(dwelling(dw, broker.url, sims_stop, moments.get(dw), sent))
                for dw in ids
            ]
            print(
                f"{n} dwellings streaming (10 readings/s each), {len(chosen)} alarms over "
                f"{seconds:.0f} s ...",
                flush=True,
            )
            await asyncio.sleep(seconds)  # the load runs for the benchmark's duration
            await wait_until(
                lambda: (
                    len(sent) == len(chosen)
                    and all(
                        (a := hub.alarms.get(i)) is not None and a.centre_acked_at for i in sent
                    )
                    and len(inbox.accepted) >= len(chosen)
                ),
                timeout=60,
            )
            sims_stop.set()
            await asyncio.gather(*sims, return_exceptions=True)
            to_ack, to_mail = [], []
            for alarm_id, detected in sent.items():
                rec = hub.alarms.get(alarm_id)
                assert rec is not None and rec.centre_acked_at is not None
                to_ack.append(rec.centre_acked_at - detected)
                to_mail.append(inbox.accepted[f"{rec.dwelling}@bench.example"] - detected)
            readings = hub.stats.counters().get("accepted.readings", 0)
            stop.set()
            await hub_task
            await hub.close()
            await centre.stop()
            smtp.stop()

    print(f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"readings batches accepted by the hub: {readings}")
    print(f"alarm latency over {len(sent)} alarms (detection at the edge -> ...), seconds:")
    for label, values in (
        ("DC-09 ACK from the centre", to_ack),
        ("SMTP accepted the mail", to_mail),
    ):
        print(
            f"  {label:<28} p50 {statistics.median(values):6.3f}  p99 {pct(values, 0.99):6.3f}"
            f"  max {max(values):6.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwellings", type=int, default=100)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    a = parser.parse_args()
    asyncio.run(main(a.dwellings, a.alarms, a.seconds, a.seed))
