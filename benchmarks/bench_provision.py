"""Provisioning time: `mz provision csv` for N dwellings against real Mosquitto (the shipped
configuration with its dynamic-security plugin), and what the broker's other clients feel
meanwhile; beside it, the old way (`mz broker add-dwelling` + `mz admin dwelling add`, one
process each per dwelling), timed for a few and scaled up.

    .venv/bin/python benchmarks/bench_provision.py [--dwellings 1000] [--rounds 2] [--cert]
                                                  [--old 5]

Each round provisions another N dwellings from a CSV file on top of those already there
(round 2 starts with N on the broker): Mosquitto 2.0's plugin rewrites its whole state file
after every command, so a run's time grows with the accounts the broker already has. The
whole command is timed, process start included. During each run a dwelling's MQTT client
publishes at QoS 1, one at a time, and the PUBACK times are recorded: the longest is the
longest the broker made anyone wait while it saved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import ADMIN_PASSWORD, TEST_DWELLINGS, Mosquitto, running_mosquitto  # noqa: E402

ENV = {"MZ_BROKER_ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mosquitto_version() -> str:
    out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "mosquitto (version unknown)"


def mz(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mz", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"mz {' '.join(args[:3])} failed:\n{out.stderr}")
    return out


async def probe(broker: Mosquitto, stop: asyncio.Event) -> list[float]:
    """PUBACK times of one dwelling publishing at QoS 1, one message at a time."""
    dwelling, password = next(iter(TEST_DWELLINGS.items()))
    times: list[float] = []
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=dwelling, password=password, identifier=dwelling
    ) as client:
        while not stop.is_set():
            t = time.perf_counter()
            await client.publish(f"mz/v1/{dwelling}/status", b"{}", qos=1, timeout=120)
            times.append(time.perf_counter() - t)
            await asyncio.sleep(0.005)
    return times


async def provision_round(
    broker: Mosquitto, work: Path, first: int, n: int, cert: bool
) -> tuple[float, list[float]]:
    csv = work / f"round-{first}.csv"
    csv.write_text(
        "id,label,address,language\n"
        + "".join(f"b-{i:05d},Unit {i},Tuinstraat {i},nl\n" for i in range(first, first + n))
    )
    args = [
        "provision",
        "--broker",
        broker.url,
        "csv",
        str(csv),
        "--edge-url",
        "mqtts://mqtt.example.org:8883",
        "--out",
        str(work / "bundles"),
        "--data-dir",
        str(work / "hub"),
        *(["--cert"] if cert else []),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(probe(broker, stop))
    await asyncio.sleep(0.2)
    t = time.perf_counter()
    await asyncio.to_thread(mz, *args)
    elapsed = time.perf_counter() - t
    stop.set()
    return elapsed, await task


def old_way(broker: Mosquitto, work: Path, n: int) -> float:
    """Seconds per dwelling for `mz broker add-dwelling` + `mz admin dwelling add`."""
    t = time.perf_counter()
    for i in range(n):
        d = f"old-{i:03d}"
        mz("broker", "--broker", broker.url, "add-dwelling", d)
        mz("admin", "dwelling", "add", d, "--label", f"Unit {i}", "--data-dir", str(work / "hub"))
    return (time.perf_counter() - t) / n


async def main(dwellings: int, rounds: int, cert: bool, old: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mosquitto").mkdir()
        with running_mosquitto(work / "mosquitto") as broker:
            print(
                f"mz provision csv, {dwellings} dwellings a round{' with --cert' if cert else ''}:"
            )
            print("| round | on the broker before | time | PUBACK p50 | PUBACK max |")
            print("|---|---|---|---|---|")
            for r in range(rounds):
                elapsed, acks = await provision_round(broker, work, r * dwellings, dwellings, cert)
                print(
                    f"| {r + 1} | {r * dwellings} | {elapsed:.1f} s "
                    f"| {statistics.median(acks) * 1000:.1f} ms | {max(acks) * 1000:.0f} ms |"
                )
            if old:
                per = old_way(broker, work, old)
                print(
                    f"\nthe old way, one `mz broker add-dwelling` + `mz admin dwelling add` "
                    f"each: {per:.2f} s per dwelling ({old} timed) -> "
                    f"~{per * dwellings / 60:.0f} min for {dwellings}"
                )
    print(
        f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{mosquitto_version()}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwellings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cert", action="store_true")
    parser.add_argument("--old", type=int, default=5, help="dwellings timed the old way (0: none)")
    a = parser.parse_args()
    asyncio.run(main(a.dwellings, a.rounds, a.cert, a.old))
