"""What a hostile dwelling's message costs the hub: microseconds per message through
`Ingest.handle`, one core, the real stores (SQLite in a temporary directory), no broker.

    .venv/bin/python benchmarks/bench_ingest_refusal.py [--n 5000]

Rows: an honest readings batch (stored), the same dwelling over its budget (refused before
decoding), full 2000-reading batches over budget (the few its sustained rate admits are
decoded and stored: they dominate the mean), a malformed alarm (refused by the contract,
then by the alarm-message budget), a message from an unregistered dwelling, one alarm
sent over and over (duplicates answered with a receipt, then refused by the budget).
Each row prints how its messages ended. The refusal rows bound how long a flood can hold
up the messages behind it in the same broker queue: N flood messages delay the next one
by about N times that figure (plus the MQTT client's own per-message cost, left out here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from hub.app import build_hub
from hub.config import OPS_DB, BrokerSettings, ConsoleSection, DataSettings, HubSettings
from hub.context import Dwelling
from hub.registry import SqliteRegistry
from sensors import contract


def batch(dwelling: str, n: int, now: float) -> tuple[str, bytes]:
    readings = [
        contract.Reading(sensor="room-1", quantity="temperature", t=now - i / 1000, value=21.0)
        for i in range(n)
    ]
    return contract.encode(
        contract.ReadingsBatch(id=contract.new_id(), dwelling=dwelling, ts=now, readings=readings)
    )


def alarm(dwelling: str, now: float) -> tuple[str, bytes]:
    return contract.encode(
        contract.AlarmMessage(
            id=contract.new_id(),
            dwelling=dwelling,
            ts=now,
            action="raise",
            alarm_id=contract.new_id(),
            kind=contract.AlarmKind.PERSONAL,
            severity=contract.Severity.HIGH,
        )
    )


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        reg = SqliteRegistry(data / OPS_DB)
        for dw in ("dw-001", "dw-003"):
            reg.add_dwelling(Dwelling(dw, dw))
        reg.close()
        hub = build_hub(
            HubSettings(
                broker=BrokerSettings(password=SecretStr("bench-broker-password")),
                data=DataSettings(dir=data),
                console=ConsoleSection(
                    enabled=False, secret_key=SecretStr("bench-secret-key-0123")
                ),
            )
        )
        ingest = hub.ingest
        now = time.time()
        rows: list[tuple[str, Callable[[], tuple[str, bytes]]]] = [
            ("readings batches of 10 (stored, then over budget)", lambda: batch("dw-001", 10, now)),
            ("over budget: readings batch (refused unread)", lambda: batch("dw-003", 10, now)),
            ("over budget: 2000-reading batch", lambda: batch("dw-003", 2000, now)),
            (
                "malformed alarm (refused by the contract)",
                lambda: (
                    "mz/v1/dw-003/alarms",
                    json.dumps({"v": True, "id": "x" * 16, "dwelling": "dw-003"}).encode(),
                ),
            ),
            ("unregistered dwelling", lambda: batch("dw-009", 10, now)),
        ]
        # Use up dw-003's bulk budget first, so its rows measure refusals.
        for _ in range(1000):
            await ingest.handle(*batch("dw-003", 60, now))
        dup = alarm("dw-001", now)
        rows.append(("one alarm over and over (duplicates)", lambda: dup))
        print(f"Ingest.handle, {n} messages per row, microseconds per message (mean)")
        for label, make in rows:
            msgs = [make() for _ in range(n)]
            outcomes: dict[str, int] = {}
            started = time.perf_counter()
            for topic, payload in msgs:
                verdict = await ingest.handle(topic, payload)
                outcomes[verdict.outcome] = outcomes.get(verdict.outcome, 0) + 1
            per = (time.perf_counter() - started) / n * 1e6
            seen = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            print(f"  {label:<46} {per:8.1f} us   ({seen})")
        for dw, refused in sorted(hub.stats.refused().items()):
            print(f"  {dw} refused: {dict(sorted(refused.items()))}")
        await hub.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    asyncio.run(main(parser.parse_args().n))
