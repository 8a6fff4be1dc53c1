"""`mz edge run` as systemd runs it: SIGTERM flushes the spool, then exits 0."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from edge.outbox import Outbox
from edge.spool import Spool
from sensors import contract
from tests.edge_fixtures import hub_subscriber
from tests.servers import Mosquitto, free_port, wait_until

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, broker_url: str, flush_s: float) -> Path:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f"""
dwelling = "dw-002"
broker_url = "{broker_url}"
password = "pw-dw-002"
heartbeat_s = 30
reconnect_min_s = 0.1
reconnect_max_s = 0.5
connect_timeout_s = 1
shutdown_flush_s = {flush_s}

[spool]
path = "{tmp_path / "spool.sqlite"}"

# The real BLE driver: it cannot scan here (no BlueZ) and is restarted with backoff.
[[devices]]
id = "pendant-1"
kind = "pendant"
address = "A4:C1:38:00:00:02"
"""
    )
    return cfg


def prefill(path: Path, n: int) -> list[str]:
    ids = []
    with Spool(path, max_messages=10_000, max_bytes=10_000_000) as spool:
        for i in range(n):
            msg = contract.Event(
                id=contract.new_id(), dwelling="dw-002", ts=1.7e9 + i, kind="test", detail={"i": i}
            )
            topic, payload = contract.encode(msg)
            spool.append(topic, payload, droppable=False)
            ids.append(msg.id)
    return ids


async def start_agent(cfg: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mz",
        "edge",
        "run",
        "--config",
        str(cfg),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    while True:  # wait until the agent has set up its signal handlers and spool
        line = await asyncio.wait_for(proc.stderr.readline(), 15)
        assert line, "agent exited early"
        if b"edge agent for dw-002" in line:
            break
    return proc


async def stop_agent(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    assert proc.stderr is not None
    proc.send_signal(signal.SIGTERM)
    err = await asyncio.wait_for(proc.stderr.read(), 20)
    rc = await asyncio.wait_for(proc.wait(), 5)
    return rc, err.decode()


async def test_sigterm_flushes_spool_to_broker(mosquitto: Mosquitto, tmp_path: Path) -> None:
    ids = prefill(tmp_path / "spool.sqlite", 300)
    cfg = write_config(tmp_path, mosquitto.url, flush_s=10)
    async with hub_subscriber(mosquitto) as hub:
        proc = await start_agent(cfg)
        rc, err = await stop_agent(proc)  # at once: whatever is left is flushed on the way out
        assert rc == 0, err
        assert "Traceback" not in err
        await wait_until(lambda: set(ids) <= set(hub.first_seen_ids()), timeout=10)
        await wait_until(lambda: hub.of(contract.Status) and not hub.of(contract.Status)[-1].online)
    assert hub.first_seen_ids(contract.Event) == ids
    with Spool(tmp_path / "spool.sqlite", max_messages=10_000, max_bytes=10_000_000) as spool:
        assert spool.depth == 0


async def test_sigterm_without_broker_keeps_spool_on_disk(tmp_path: Path) -> None:
    ids = prefill(tmp_path / "spool.sqlite", 20)
    cfg = write_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", flush_s=1)
    proc = await start_agent(cfg)
    began = time.monotonic()
    rc, err = await stop_agent(proc)
    assert rc == 0, err
    assert time.monotonic() - began < 5  # bounded by shutdown_flush_s, not hanging
    assert "20 messages still spooled" in err
    with Spool(tmp_path / "spool.sqlite", max_messages=10_000, max_bytes=10_000_000) as spool:
        items = spool.peek(100)
    assert [contract.decode(i.topic, i.payload)[1].id for i in items] == ids


def spooled_rows(path: Path) -> list[tuple[str, int]]:
    """(topic, awaiting) of every row, read-only: the agent may be running."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(str(r[0]), int(r[1])) for r in db.execute("SELECT topic, awaiting FROM messages")]
    finally:
        db.close()


async def test_sigterm_keeps_alarms_awaiting_receipt_for_the_next_start(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    path = tmp_path / "spool.sqlite"
    ids = prefill(path, 10)
    raised = contract.AlarmMessage(
        id=contract.new_id(),
        dwelling="dw-002",
        ts=1.7e9,
        action="raise",
        alarm_id=contract.new_id(),
        kind=contract.AlarmKind.PERSONAL,
        severity=contract.Severity.HIGH,
    )
    with Spool(path, max_messages=10_000, max_bytes=10_000_000) as spool:
        Outbox(spool).put(raised)
    cfg = write_config(tmp_path, mosquitto.url, flush_s=10)
    # A hub that never sends receipts (an older hub, or one that lost the alarm).
    async with hub_subscriber(mosquitto, receipts=False) as hub:
        proc = await start_agent(cfg)
        await wait_until(lambda: set(ids) | {raised.id} <= set(hub.first_seen_ids()), timeout=10)
        rc, err = await stop_agent(proc)
    assert rc == 0, err
    # The flush waited for PUBACKs only; the unconfirmed alarm stays on disk.
    assert "still spooled" not in err
    assert "alarms awaiting the hub's receipt: 1" in err
    assert spooled_rows(path) == [("mz/v1/dw-002/alarms", 1)]

    # The next start sends it again at once; the hub's receipt removes it.
    async with hub_subscriber(mosquitto) as hub:
        proc = await start_agent(cfg)
        await wait_until(lambda: raised.id in hub.receipted, timeout=10)
        await wait_until(lambda: spooled_rows(path) == [], timeout=10)
        rc, err = await stop_agent(proc)
    assert rc == 0, err
    assert hub.first_seen_ids(contract.AlarmMessage) == [raised.id]
