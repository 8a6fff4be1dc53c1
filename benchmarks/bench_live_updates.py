"""Live updates across processes: from another process's commit to the console's SSE event,
and what the store watcher costs when nothing changes.

    .venv/bin/python benchmarks/bench_live_updates.py [--changes 50] [--idle 10] [--seed 1]

Real parts: Mosquitto (the shipped configuration), the real hub (`build_hub`, console on
a free port, its store watcher polling every 0.25 s), an operator's SSE client on
`/events` over HTTP, and a second process with its own AlarmService on the hub's alarm
store that raises `--changes` alarms, one every 0.2-0.6 s (at random), printing when each
commit returned. Latency = when the `alarms` event carrying the new card arrived - that
commit time (wall clock, one machine). Then the hub idles `--idle` s with the stream open:
the CPU time of the watcher's thread ("mz-watch"), and of the whole hub process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.app import build_hub
from hub.config import OPS_DB, load_settings
from hub.context import Dwelling, Operator
from hub.watch import WATCH_INTERVAL_S
from tests.servers import HUB_PASSWORD, HUB_USER, free_port, running_mosquitto, wait_until

OPERATOR = ("bench", "bench-operator-pw-1")
DWELLINGS = [f"dw-{i:03d}" for i in range(1, 6)]
CARD = re.compile(r'id="alarm-([^"]+)"')


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


async def peer(data_dir: Path, changes: int, seed: int) -> None:
    """The other process: raise alarms on the shared store, print each commit's time."""
    from alerts.channels.router import ChannelRouter
    from alerts.service import AlarmService, AlertSettings
    from hub.registry import SqliteRegistry
    from hub.sql.engine import sqlite_engine
    from sensors import contract

    rng = random.Random(seed)
    registry = SqliteRegistry(data_dir / OPS_DB)
    svc = AlarmService(
        sqlite_engine(data_dir / OPS_DB),  # the hub (started first) created the tables
        ChannelRouter(None, None),
        registry,
        AlertSettings(public_url="http://127.0.0.1:9", secret_key=secrets.token_urlsafe(24)),
    )
    for i in range(changes):
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        now = time.time()
        msg = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling=DWELLINGS[i % len(DWELLINGS)],
            ts=now,
            action="raise",
            alarm_id=contract.new_id(),
            kind=contract.AlarmKind.PERSONAL,
            severity=contract.Severity.HIGH,
        )
        await svc.on_edge_alarm(msg, received_at=now)
        print(json.dumps({"id": msg.alarm_id, "t": time.time()}), flush=True)
    svc.close()
    svc.store.engine.dispose()
    registry.close()


async def read_stream(http: httpx.AsyncClient, first_seen: dict[str, float]) -> None:
    async with http.stream("GET", "/events", timeout=None) as r:
        r.raise_for_status()
        name, data = "", ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data += line.split(":", 1)[1].strip()
            elif not line and data:
                if name == "alarms":
                    at = time.time()
                    for alarm_id in CARD.findall(json.loads(data)["open"]):
                        first_seen.setdefault(alarm_id, at)
                name, data = "", ""


async def login(http: httpx.AsyncClient) -> None:
    page = await http.get("/login")
    found = re.search(r'name="csrf"[^>]*value="([^"]+)"', page.text)
    assert found, page.text
    r = await http.post(
        "/login", data={"username": OPERATOR[0], "password": OPERATOR[1], "csrf": found[1]}
    )
    assert r.status_code == 303, r.text


def thread_cpu(name: str) -> float:
    thread = next(t for t in threading.enumerate() if t.name == name)
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


async def main(changes: int, idle_s: float, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "broker").mkdir()
        with running_mosquitto(root / "broker") as broker:
            port = free_port()
            settings = load_settings(
                None,
                broker={
                    "url": broker.url,
                    "username": HUB_USER,
                    "password": HUB_PASSWORD,
                    "client_id": "hub.bench",
                },
                data={"dir": str(root / "hub")},
                console={"port": port, "secret_key": secrets.token_urlsafe(24)},
            )
            hub = build_hub(settings)
            for i, dw in enumerate(DWELLINGS, start=1):
                hub.registry.add_dwelling(Dwelling(dw, f"Unit {i}"))
            hub.registry.add_operator(Operator(OPERATOR[0], "operator"), OPERATOR[1])
            stop, ready = asyncio.Event(), asyncio.Event()
            hub_task = asyncio.create_task(hub.run(stop, ready))
            await wait_until(ready.is_set, timeout=20)
            first_seen: dict[str, float] = {}
            committed: dict[str, float] = {}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                await login(http)
                reader = asyncio.create_task(read_stream(http, first_seen))
                print(f"another process commits {changes} alarms ...", flush=True)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--peer", str(root / "hub"),
                    "--changes", str(changes), "--seed", str(seed),
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                assert proc.stdout is not None
                async for line in proc.stdout:
                    row = json.loads(line)
                    committed[row["id"]] = row["t"]
                assert await proc.wait() == 0
                await wait_until(lambda: committed.keys() <= first_seen.keys(), timeout=10)
                latencies = [first_seen[i] - t for i, t in committed.items()]

                print(f"idle {idle_s:.0f} s with the stream open ...", flush=True)
                watcher0, process0 = thread_cpu("mz-watch"), time.process_time()
                wall0 = time.monotonic()
                await asyncio.sleep(idle_s)  # measuring idleness: nothing to wait for
                wall = time.monotonic() - wall0
                watcher_cpu = thread_cpu("mz-watch") - watcher0
                process_cpu = time.process_time() - process0
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            stop.set()
            await hub_task
            await hub.close()

    print(f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"another process's commit -> the console's SSE event, {len(latencies)} changes, "
        f"watcher every {WATCH_INTERVAL_S} s:"
    )
    print(
        f"  p50 {statistics.median(latencies):6.3f} s  p99 {pct(latencies, 0.99):6.3f} s"
        f"  max {max(latencies):6.3f} s   (promise: 2 s)"
    )
    print(f"idle, over {wall:.1f} s:")
    print(
        f"  watcher thread  {watcher_cpu / wall * 1e3:7.3f} ms CPU per s "
        f"({watcher_cpu / wall * 100:.3f} % of a core)"
    )
    print(
        f"  whole hub       {process_cpu / wall * 1e3:7.3f} ms CPU per s "
        f"({process_cpu / wall * 100:.3f} % of a core; ingest, presence, delivery, the stream)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.peer is not None:
        asyncio.run(peer(a.peer, a.changes, a.seed))
    else:
        asyncio.run(main(a.changes, a.idle, a.seed))
