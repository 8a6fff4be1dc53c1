"""InfluxStore against real engines: victoria-metrics through the v2 write API
(influxdb-client), InfluxDB 1.6.7 stopped and started again under a writing store (the
disk buffer, backfill in order, the bound and its drops), retention policies and the
1-minute continuous query, readings older than the retention, refused writes."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from hub.errors import StorageError
from hub.storage import influx_lines
from hub.storage.base import Point
from hub.storage.influx import InfluxStore, Retention
from hub.storage.influx_url import parse_influx_url
from hub.storage.influx_write import WritePolicy, WriteRejected
from tests.servers import InfluxDB1, free_port, require_binary, running_victoria, wait_until

T0 = float(math.floor(time.time() / 3600) * 3600 - 3600)
FAST = WritePolicy(attempts=1, backoff_s=0.02, backoff_max_s=0.1)


def _hr(t: float, value: float, dwelling: str = "dw-001") -> Point:
    return Point(dwelling, "hr-1", "heart_rate", T0 + t, value)


def _influx(tmp: Path) -> InfluxDB1:
    d = tmp / "influxdb"
    d.mkdir()
    return InfluxDB1(require_binary("influxd", "influxdb"), d, free_port())


def _store(
    url: str, tmp: Path, *, retention: Retention | None = None, buffer_max_readings: int = 1000
) -> InfluxStore:
    return InfluxStore(
        parse_influx_url(url),
        tmp / "influx-buffer.sqlite",
        policy=FAST,
        retention=retention,
        buffer_max_readings=buffer_max_readings,
    )


async def test_victoria_metrics_takes_the_v2_write_api(tmp_path: Path) -> None:
    with running_victoria(tmp_path) as vm:
        store = _store(vm.url(), tmp_path)
        assert store.target.api == "v2"
        try:
            await store.write_points(
                [_hr(0, 61), _hr(1.5, 62.5), Point("dw-002", "th-1", "temperature", T0, 21.25)]
            )
            # It evaluates no InfluxQL (it answers every /query with its database list):
            # reading the history back says so, instead of failing inside the parser.
            with pytest.raises(StorageError, match="does not evaluate InfluxQL"):
                await store.latest("dw-001")
        finally:
            await store.close()
        series = {
            (s["metric"]["dwelling"], s["metric"]["sensor"], s["metric"]["quantity"]): list(
                zip(s["timestamps"], s["values"], strict=True)
            )
            for s in vm.export('{__name__="reading_value"}')
        }
    ms = int(T0 * 1000)
    assert series == {
        ("dw-001", "hr-1", "heart_rate"): [(ms, 61), (ms + 1500, 62.5)],
        ("dw-002", "th-1", "temperature"): [(ms, 21.25)],
    }
    assert store.write_stats()["written"] == 3


async def test_the_disk_buffer_keeps_writes_while_influxdb_is_down_and_backfills_in_order(
    tmp_path: Path,
) -> None:
    server = _influx(tmp_path)
    server.start()
    url = server.url("mz")
    store = _store(url, tmp_path)
    try:
        await store.write_points([_hr(0, 60)])
        server.stop()
        # Down: every write still returns, durable in the buffer file. The same point
        # written twice with another value: only an in-order backfill leaves the second.
        await store.write_points([_hr(1, 61), _hr(2, 1)])
        await store.write_points([_hr(3, 63), _hr(2, 62)])
        assert store.buffered == 4
        with sqlite3.connect(tmp_path / "influx-buffer.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM pending").fetchone() == (4,)
        with pytest.raises(Exception, match="InfluxDB query failed"):
            await store.series("dw-001", "hr-1", "heart_rate", T0, T0 + 10)
        server.start()
        await wait_until(lambda: store.buffered == 0)
        got = await store.series("dw-001", "hr-1", "heart_rate", T0, T0 + 10)
        assert [(p.t - T0, p.value) for p in got] == [(0, 60), (1, 61), (2, 62), (3, 63)]
        stats = store.write_stats()
        assert stats["dropped"] == 0 and stats["buffered_total"] == 4 and stats["written"] == 5
    finally:
        await store.close()
        server.stop()


async def test_a_buffer_left_by_a_stopped_hub_is_backfilled_by_the_next(tmp_path: Path) -> None:
    server = _influx(tmp_path)
    store = _store(server.url("mz"), tmp_path)
    await store.write_points([_hr(0, 60), _hr(1, 61)])  # nothing listening yet
    await store.close()
    server.start()
    store = _store(server.url("mz"), tmp_path)
    try:
        assert store.buffered == 2
        await store.latest("dw-001")  # any use starts the backfill
        await wait_until(lambda: store.buffered == 0)
        got = await store.series("dw-001", "hr-1", "heart_rate", T0, T0 + 10)
        assert [p.value for p in got] == [60, 61]
    finally:
        await store.close()
        server.stop()


async def test_a_full_buffer_drops_the_oldest_readings_and_counts_them(tmp_path: Path) -> None:
    server = _influx(tmp_path)
    store = _store(server.url("mz"), tmp_path, buffer_max_readings=10)
    try:
        for batch in range(5):  # 25 readings while nothing listens
            await store.write_points([_hr(batch * 5 + i, batch * 5 + i) for i in range(5)])
        assert (store.buffered, store.dropped) == (10, 15)
        assert store.write_stats()["dropped"] == 15
        server.start()
        await wait_until(lambda: store.buffered == 0)
        got = await store.series("dw-001", "hr-1", "heart_rate", T0, T0 + 100)
        assert [p.value for p in got] == list(range(15, 25))  # the newest ten
    finally:
        await store.close()
        server.stop()


async def test_retention_policies_and_the_continuous_query(
    tmp_path: Path, influxdb_server: InfluxDB1, influx_url: str
) -> None:
    db = parse_influx_url(influx_url).database
    store = _store(influx_url, tmp_path, retention=Retention(raw_days=30, aggregate_days=365))
    try:
        # Two minutes of readings every 10 s, and one older than the raw retention: the
        # server drops that one (counted as expired), the write does not fail.
        await store.write_points([_hr(t, 60 + t // 10) for t in range(0, 120, 10)])
        await store.write_points([_hr(-40 * 86400, 1)])
        assert store.write_stats()["expired"] == 1
    finally:
        await store.close()
    policies = {r[0]: (r[1], r[4]) for r in influxdb_server.query("SHOW RETENTION POLICIES", db)}
    assert policies["mz_raw"] == ("720h0m0s", True)  # the default: readings land here
    assert policies["mz_1m"] == ("8760h0m0s", False)
    # The server lists every database's continuous queries (other tests share it).
    cqs = [r for r in influxdb_server.query("SHOW CONTINUOUS QUERIES", db) if f" ON {db} " in r[1]]
    assert [name for name, _ in cqs] == ["mz_reading_1m"]
    assert f"INTO {db}.mz_1m.reading_1m FROM {db}.mz_raw.reading GROUP BY time(1m)" in cqs[0][1]
    # What the continuous query does each minute, run once over the two minutes.
    influxdb_server.query(influx_lines.aggregate_select(db, between=(T0, T0 + 120)), db)
    rows = influxdb_server.query(
        'SELECT median, n, low, high FROM "mz_1m".reading_1m ORDER BY time', db
    )
    assert [r[1:] for r in rows] == [[62.5, 6, 60, 65], [68.5, 6, 66, 71]]

    # Other durations on the next start: the policies follow the settings.
    store = _store(influx_url, tmp_path, retention=Retention(raw_days=7, aggregate_days=365))
    try:
        await store.write_points([_hr(200, 1)])
    finally:
        await store.close()
    altered = {r[0]: r[1] for r in influxdb_server.query("SHOW RETENTION POLICIES", db)}
    assert altered["mz_raw"] == "168h0m0s"


async def test_readings_the_server_refuses_raise_a_clear_error(
    tmp_path: Path, influxdb_server: InfluxDB1, influx_url: str
) -> None:
    """Not buffered (sending them again cannot help): the caller gets a WriteRejected."""
    db = parse_influx_url(influx_url).database
    influxdb_server.query(f'CREATE DATABASE "{db}"', db)
    # Someone else wrote `value` as an integer here first: our floats conflict with it.
    r = httpx.post(
        f"{influxdb_server.http}/write",
        params={"db": db, "precision": "u"},
        content=f"reading,dwelling=dw-001,quantity=heart_rate,sensor=hr-1 value=1i {int(T0 * 1e6)}",
    )
    assert r.status_code == 204, r.text
    store = _store(influx_url, tmp_path, retention=Retention(manage=False))
    try:
        with pytest.raises(WriteRejected, match="field type conflict"):
            await store.write_points([_hr(2, 61)])
        assert store.buffered == 0 and store.write_stats()["rejected"] == 1
    finally:
        await store.close()
