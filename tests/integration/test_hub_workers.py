"""Three hub workers (`mz hub run` processes) on one shared subscription, real Mosquitto
and a real PostgreSQL as the operational store; one is SIGKILLed mid-stream, just as
alarms come in, and comes back as systemd would restart it. Nothing may be lost, nothing
stored or notified twice, and the offline alarm raised by one worker only."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import pytest

from alerts.model import Contact
from alerts.store import AlarmStore
from hub.context import Dwelling
from hub.presence import OFFLINE_KEY
from hub.registry import Registry
from hub.sql.engine import open_engine
from hub.sql.schema import open_store
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors import contract
from tests.integration.adversarial.conftest import HubProcess
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    TEST_DWELLINGS,
    Mosquitto,
    SmtpSink,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)

SECRET = "three-workers-secret-key-0123456789abc"
STREAMING = ("dw-001", "dw-002", "dw-003")
SILENT = "dw-004"  # sends a status, then falls silent: offline
BATCHES = 150  # per streaming dwelling


def config(worker: HubProcess, n: int, mosquitto: Mosquitto, smtp: SmtpSink, sql: str) -> None:
    worker.config.write_text(
        f"""log_level = "INFO"
[broker]
url = "{mosquitto.url}"
username = "{HUB_USER}"
password = "{HUB_PASSWORD}"
client_id = "hub.{n}"
shared_subscriptions = true
[data]
dir = "{worker.data_dir}"
[storage]
sql = "{sql}"
[console]
enabled = false
secret_key = "{SECRET}"
[mail]
url = "mailto://127.0.0.1:{smtp.port}?from=alarm@mz.test&mode=insecure"
[routing]
step_wait_s = 3600
[presence]
check_interval_s = 0.2
"""
    )


def seed(sql_url: str) -> None:
    """The dwellings, in the shared store the workers' registry is in."""
    engine = open_store(sql_url)
    reg = Registry(engine)
    for i, dw in enumerate((*STREAMING, SILENT), start=1):
        reg.add_dwelling(Dwelling(dw, f"Unit {i}"))
        reg.add_contact(Contact(f"c-{dw}", dw, f"Contact {i}", f"{dw}@example.org", "nl"))
    # The offline alarm is technical: family hears of it only in the daytime, the installer
    # at any hour. Its contact is the installer, so the test does not depend on the time.
    reg.set_policy(SILENT, [(f"c-{SILENT}", 60.0)], installer=f"c-{SILENT}")
    engine.dispose()


async def stream(dw: str, mosquitto: Mosquitto, t0: float, alarm_at: int, alarm_id: str) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username=dw, password=TEST_DWELLINGS[dw], identifier=dw
    ) as client:
        for i in range(BATCHES):
            t = t0 + i
            msg = contract.ReadingsBatch(
                id=contract.new_id(),
                dwelling=dw,
                ts=time.time(),
                readings=[contract.Reading(sensor="hr-1", quantity="hr", t=t, value=70.0)],
            )
            await client.publish(*contract.encode(msg), qos=1)
            if i == alarm_at:
                alarm = contract.AlarmMessage(
                    id=contract.new_id(),
                    dwelling=dw,
                    ts=time.time(),
                    action="raise",
                    alarm_id=alarm_id,
                    kind=contract.AlarmKind.PERSONAL,
                    severity=contract.Severity.HIGH,
                )
                await client.publish(*contract.encode(alarm), qos=1)
            await asyncio.sleep(0.005)  # an edge's pace, a little faster


async def test_three_workers_one_killed_mid_stream_lose_nothing_and_repeat_nothing(
    mosquitto: Mosquitto, smtp: SmtpSink, pg_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "hub-data"
    data.mkdir()
    seed(pg_url)
    workers = []
    for n in (1, 2, 3):
        w = HubProcess(data, tmp_path / f"hub-{n}.toml", tmp_path / f"hub-{n}.log", free_port())
        config(w, n, mosquitto, smtp, pg_url)
        workers.append(w)
    try:
        for w in workers:
            w.start()
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username=SILENT,
            password=TEST_DWELLINGS[SILENT],
            identifier=SILENT,
        ) as client:
            status = contract.Status(
                id=contract.new_id(), dwelling=SILENT, ts=time.time(), online=True, heartbeat_s=1
            )
            await client.publish(*contract.encode(status), qos=1)
        t0 = time.time() - 3600
        alarms = {dw: contract.new_id() for dw in STREAMING}
        streams = [
            asyncio.create_task(stream(dw, mosquitto, t0, BATCHES // 3, alarms[dw]))
            for dw in STREAMING
        ]
        # Mid-stream, as the alarms come in: worker 2 dies without a word.
        store = SqliteTimeSeriesStore(data / "timeseries.sqlite")

        async def stored() -> int:
            return sum([len(await store.series(dw, "hr-1", "hr", 0, 1e12)) for dw in STREAMING])

        await wait_until(lambda: _at_least(stored, BATCHES // 3), timeout=60)
        victim = workers[1]
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        await asyncio.gather(*streams)
        victim.start()  # systemd's Restart=: its persistent session still holds its share

        expected = BATCHES * len(STREAMING)
        await wait_until(lambda: _at_least(stored, expected), timeout=90)
        engine = open_engine(pg_url)
        try:
            alarm_store = AlarmStore(engine)

            def settled() -> bool:
                recs = {r.id for r in alarm_store.recent(100)}
                return set(alarms.values()) <= recs and len(smtp.messages) >= len(alarms)

            await wait_until(settled, timeout=90)
            await wait_until(
                lambda: any(
                    r.dwelling == SILENT and r.detail.get("key") == OFFLINE_KEY
                    for r in alarm_store.recent(100)
                ),
                timeout=60,
            )
            await wait_until(lambda: len(smtp.messages) >= len(STREAMING) + 1, timeout=60)
            for w in workers:  # let anything still in flight finish, then look
                w.stop()
            assert await stored() == expected  # none lost; the key makes twice impossible
            records = alarm_store.recent(1000)
            raised = Counter(
                (r.dwelling, str(r.detail.get("key", r.id)) if r.source == "hub" else r.id)
                for r in records
                for _, what, _, _ in alarm_store.log(r.id)
                if what == "raised"
            )
            offline = [r for r in records if r.detail.get("key") == OFFLINE_KEY]
            assert all(n == 1 for n in raised.values()), (
                raised,
                [(r.id, r.state, alarm_store.log(r.id)) for r in offline],
            )
            assert raised[(SILENT, OFFLINE_KEY)] == 1
            mails = Counter(m["To"] for m in smtp.messages)
            # One mail per alarm: each streaming dwelling's, and the silent one's offline.
            assert mails == {f"{dw}@example.org": 1 for dw in (*STREAMING, SILENT)}, mails
        finally:
            engine.dispose()
        await store.close()
    finally:
        for w in workers:
            w.stop()


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n
