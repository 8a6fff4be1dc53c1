"""Ingest throughput: how fast the hub fully processes reading batches, against what the
broker can pass through to a plain subscriber, measured in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--messages 20000] [--dwellings 1000]
        [--backends sqlite,postgresql,sqlite/influxdb] [--json]

Real parts: Mosquitto with the shipped configuration (dynamic-security ACLs checked on
every publish and delivery; `max_queued_messages` raised so the backlog fits), the real hub
(`build_hub`: validation, budgets, dedup, the stores, manual PUBACKs after the write), and
for `postgresql` a real PostgreSQL 15 started for the run (tests/postgres.py) as the
operational store; a backend pair `OPS/influxdb` puts the time series in a real InfluxDB
1.6.7 started for the run (tests/servers.py; `[timeseries] url`, v1 /write).

Both sides drain the same kind of backlog: `--messages` realistic batches (8 readings of 4
sensors each, ~800 bytes, as an edge sends every few seconds) from `--dwellings`
dwellings, published at QoS 1 while the subscriber is away, into its persistent session.
Then the subscriber connects, and the rate is taken from the first message in to the
last (a drain's steady rate; the hub's start, until its first batch is processed, is
printed apart):

* raw: a plain paho subscriber (QoS 1, automatic acks) that only counts;
* hub: the hub's readings session, until every batch is processed and acknowledged.

Printed per backend pair (operational store / time series): the raw messages/s, the hub's
processed messages/s, their ratio, and `lost` (readings not in the store) and `duplicates`
(batches processed more than once). `--json` prints one JSON object for the first pair.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.app import Hub, build_hub
from hub.config import load_settings
from hub.context import Dwelling
from sensors import contract
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, running_mosquitto, wait_until

PUBLISHER, PUBLISHER_PW = "bench-publisher", "bench-publisher-pw"
# (sensor, quantity, first value, step): two readings each per batch.
SENSORS = (
    ("hr-1", "hr", 72.0, 1.0),
    ("ox-1", "spo2", 97.0, -1.0),
    ("th-1", "temperature", 21.5, 0.1),
    ("pir-1", "motion", 0.0, 1.0),
)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def batches(n: int, dwellings: int, now: float) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        dw = f"dw-{i % dwellings + 1:04d}"
        t0 = now - 3600 + i // dwellings * 4.0
        readings = [
            contract.Reading(sensor=s, quantity=q, t=t0 + k * 2.0, value=v + k * step)
            for s, q, v, step in SENSORS
            for k in range(2)
        ]
        msg = contract.ReadingsBatch(
            id=contract.new_id(), dwelling=dw, ts=t0 + 4, readings=readings
        )
        out.append(contract.encode(msg))
    return out


def publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    """Publish every message at QoS 1 and wait for all PUBACKs."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    c.username_pw_set(PUBLISHER, PUBLISHER_PW)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        infos = [c.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        c.disconnect()
        c.loop_stop()


def publisher_account(broker: Mosquitto) -> None:
    broker.add_publisher(PUBLISHER, PUBLISHER_PW, "mz/v1/+/readings")


def raw_drain(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> float:
    """Messages/s a plain paho subscriber receives from its persistent session's backlog."""
    n = len(messages)
    got = 0
    first = last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        nonlocal got, first, last
        got += 1
        if got == 1:
            first = time.perf_counter()
        if got == n:
            last = time.perf_counter()
            done.set()

    def client() -> paho.Client:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id="hub.raw", clean_session=False)
        c.username_pw_set(HUB_USER, HUB_PASSWORD)
        c.on_message = on_message
        c.on_subscribe = lambda *_a: subscribed.set()
        return c

    once = client()
    once.connect("127.0.0.1", broker.port)
    once.loop_start()
    once.subscribe("mz/v1/+/readings", qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("raw subscriber: no SUBACK")
    once.disconnect()
    once.loop_stop()
    publish(broker, messages)
    second = client()
    second.connect("127.0.0.1", broker.port)
    second.loop_start()
    try:
        if not done.wait(300):
            raise RuntimeError(f"raw subscriber got {got} of {n}")
        return (n - 1) / (last - first)
    finally:
        second.disconnect()
        second.loop_stop()


@contextlib.contextmanager
def sql_store(kind: str, root: Path) -> Iterator[dict[str, object]]:
    if kind == "sqlite":
        yield {}
        return
    from tests.postgres import running_postgres

    with running_postgres(root / "pg") as pg:
        yield {"sql": pg.create_database()}


@contextlib.contextmanager
def timeseries_store(kind: str, root: Path) -> Iterator[dict[str, object]]:
    if kind == "sqlite":
        yield {}
        return
    if kind != "influxdb":
        raise SystemExit(f"unknown time-series backend {kind!r} (sqlite, influxdb)")
    from tests.servers import running_influxdb

    (root / "influxdb").mkdir(exist_ok=True)
    with running_influxdb(root / "influxdb") as influx:
        yield {"url": influx.url("mz_bench")}


async def run_hub_until(
    hub: Hub, processed: Callable[[], int], n: int, within: float
) -> tuple[float, float]:
    """Run `hub` until `processed()` reaches `n`: (seconds from start to the first
    message processed, messages/s from then on)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    start = time.perf_counter()
    first = (0.0, 0)
    task = asyncio.create_task(hub.run(stop, ready))

    def progress() -> bool:
        nonlocal first
        done = processed()
        if done and not first[1]:
            first = (time.perf_counter(), done)
        return done >= n

    try:
        await wait_until(ready.is_set, timeout=30)
        await wait_until(progress, timeout=within, interval=0.005)
        end = time.perf_counter()
        if not first[1]:
            return 0.0, 0.0
        at, count = first
        return at - start, (n - count) / (end - at) if end > at else 0.0
    finally:
        stop.set()
        await task


async def hub_drain(
    broker: Mosquitto,
    messages: list[tuple[str, bytes]],
    dwellings: int,
    root: Path,
    ops: str,
    ts: str = "sqlite",
    receiver: str | None = None,
) -> dict[str, float | int]:
    n = len(messages)
    with sql_store(ops, root) as storage, timeseries_store(ts, root) as timeseries:
        settings = load_settings(
            None,
            broker={
                "url": broker.url,
                "username": HUB_USER,
                "password": HUB_PASSWORD,
                "client_id": f"hub.bench-{ops}-{ts}",
                **({} if receiver is None else {"readings_receiver": receiver}),
            },
            data={"dir": str(root / f"hub-{ops}-{ts}")},
            storage=storage,
            timeseries=timeseries,
            console={"enabled": False, "secret_key": secrets.token_urlsafe(24)},
        )
        hub = build_hub(settings)
        try:
            for i in range(1, dwellings + 1):
                hub.registry.add_dwelling(Dwelling(f"dw-{i:04d}", f"Unit {i}"))
            # Once to make the persistent sessions and their subscriptions.
            await run_hub_until(hub, lambda: 0, 0, 30)
            await asyncio.to_thread(publish, broker, messages)

            def processed() -> int:
                s = hub.stats.counters()
                return s.get("accepted.readings", 0) + s.get("duplicate", 0)

            startup, rate = await run_hub_until(hub, processed, n, 600)
            stats = hub.stats.counters()
            stored = 0
            for i in range(1, dwellings + 1):
                for sensor, quantity, _, _ in SENSORS:
                    pts = await hub.store.series(f"dw-{i:04d}", sensor, quantity, 0, 1e12)
                    stored += len(pts)
        finally:
            await hub.close()
    expected = n * len(SENSORS) * 2
    return {
        "hub_msgs_per_s": rate,
        "startup_s": startup,
        "lost": expected - stored,
        "duplicates": max(0, int(stats.get("accepted.readings", 0)) - n),
        "rejected": sum(v for k, v in stats.items() if k.startswith("rejected")),
    }


async def main(args: argparse.Namespace) -> list[dict[str, object]]:
    now = time.time()
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for pair in args.backends.split(","):
            ops, _, ts = pair.partition("/")
            ts = ts or "sqlite"
            (root / f"broker-{ops}-{ts}").mkdir()
            overrides = {
                "max_queued_messages": str(args.messages * 2),
                **dict(o.split("=", 1) for o in args.broker),
            }
            with running_mosquitto(root / f"broker-{ops}-{ts}", overrides=overrides) as broker:
                publisher_account(broker)
                raw = await asyncio.to_thread(
                    raw_drain, broker, batches(args.messages, args.dwellings, now)
                )
                hub = await hub_drain(
                    broker,
                    batches(args.messages, args.dwellings, now),
                    args.dwellings,
                    root,
                    ops,
                    ts,
                    args.receiver,
                )
            results.append(
                {
                    "backends": f"{ops}/{ts}",
                    "raw_msgs_per_s": round(raw),
                    "hub_msgs_per_s": round(float(hub["hub_msgs_per_s"])),
                    "ratio": round(float(hub["hub_msgs_per_s"]) / raw, 3),
                    "lost": hub["lost"],
                    "duplicates": hub["duplicates"],
                    "rejected": hub["rejected"],
                    "startup_s": round(float(hub["startup_s"]), 2),
                }
            )
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--dwellings", type=int, default=1000)
    p.add_argument(
        "--backends",
        default="sqlite",
        help="operational store[/time series], comma-separated: sqlite, postgresql, "
        "sqlite/influxdb, postgresql/influxdb",
    )
    p.add_argument(
        "--receiver",
        choices=["process", "thread"],
        default=None,
        help="[broker] readings_receiver: the readings session on paho's thread in the hub "
        "process or in a process of its own (default: the hub's default, thread)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--broker", action="append", default=[], help="a mosquitto.conf override, KEY=VALUE"
    )
    a = p.parse_args()
    out = asyncio.run(main(a))
    if a.json:
        first = out[0]
        keys = ("raw_msgs_per_s", "hub_msgs_per_s", "ratio", "lost", "duplicates")
        print(json.dumps({k: first[k] for k in keys}))
    else:
        print(
            f"{cpu_model()}, {os.cpu_count()} cores; {a.messages} batches, {a.dwellings} dwellings"
        )
        for r in out:
            print(
                f"{r['backends']:>20}: raw {r['raw_msgs_per_s']:>7} msg/s, hub "
                f"{r['hub_msgs_per_s']:>7} msg/s, ratio {r['ratio']:.2f}, lost {r['lost']}, "
                f"duplicates {r['duplicates']}, rejected {r['rejected']}, "
                f"start {r['startup_s']} s"
            )
