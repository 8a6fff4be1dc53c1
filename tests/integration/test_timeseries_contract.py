"""The TimeSeriesStore contract for readings, once on every backend: the embedded SQLite
file and a real InfluxDB 1.6.7 (v1 /write, reads through InfluxQL on /query).

Times are near the real clock: InfluxDB drops points older than the store's retention
policy (30 days by default), which is part of what is under test.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage.base import Bucket, Point, TimeSeriesStore
from hub.storage.influx import InfluxStore
from hub.storage.influx_url import parse_influx_url
from hub.storage.sqlite import SqliteTimeSeriesStore

# An hour boundary a day ago: inside every retention, and buckets line up with it.
T0 = float(math.floor(time.time() / 3600) * 3600 - 86400)


@pytest.fixture(params=["sqlite", "influxdb1"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    s: TimeSeriesStore
    if request.param == "sqlite":
        s = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    else:
        url = request.getfixturevalue("influx_url")
        s = InfluxStore(parse_influx_url(url), tmp_path / "buffer.sqlite")
    yield s
    await s.close()


def _pt(t: float, value: float, sensor: str = "hr-1", quantity: str = "heart_rate") -> Point:
    return Point("dw-001", sensor, quantity, T0 + t, value)


def _tv(points: list[Point]) -> list[tuple[float, float]]:
    return [(p.t - T0, p.value) for p in points]


async def test_series_in_range_oldest_first(store: TimeSeriesStore) -> None:
    await store.write_points([_pt(3, 63), _pt(1, 61), _pt(2, 62), _pt(5, 65)])
    got = await store.series("dw-001", "hr-1", "heart_rate", T0 + 1, T0 + 5)
    assert _tv(got) == [(1, 61), (2, 62), (3, 63)]
    assert all(p == Point("dw-001", "hr-1", "heart_rate", p.t, p.value) for p in got)


async def test_fractional_times_and_values_round_trip(store: TimeSeriesStore) -> None:
    points = [_pt(0.125, 36.65, "th-1", "temperature"), _pt(1.000001, -0.5, "th-1", "temperature")]
    await store.write_points(points)
    assert await store.series("dw-001", "th-1", "temperature", T0, T0 + 2) == points


async def test_writing_the_same_point_twice_keeps_one(store: TimeSeriesStore) -> None:
    """Redelivered batches are harmless: the point key is (dwelling, sensor, quantity, t)."""
    await store.write_points([_pt(1, 61)])
    await store.write_points([_pt(1, 61), _pt(1, 61)])
    assert len(await store.series("dw-001", "hr-1", "heart_rate", T0, T0 + 10)) == 1


async def test_latest_per_sensor_and_quantity(store: TimeSeriesStore) -> None:
    await store.write_points(
        [
            _pt(1, 61),
            _pt(2, 62),
            _pt(1, 36.5, "th-1", "temperature"),
            _pt(9, 20.0, "th-1", "humidity"),
        ]
    )
    await store.write_points([Point("dw-002", "hr-1", "heart_rate", T0 + 99, 99)])
    got = {(p.sensor, p.quantity): (p.t - T0, p.value) for p in await store.latest("dw-001")}
    assert got == {
        ("hr-1", "heart_rate"): (2, 62),
        ("th-1", "temperature"): (1, 36.5),
        ("th-1", "humidity"): (9, 20.0),
    }
    assert await store.latest("dw-003") == []


async def test_sensors_of_a_dwelling_sorted(store: TimeSeriesStore) -> None:
    await store.write_points(
        [_pt(1, 1, "pir-2", "motion"), _pt(2, 61), _pt(3, 0, "pir-1", "motion")]
    )
    await store.write_points([Point("dw-002", "door-1", "open", T0, 1)])
    assert await store.sensors("dw-001") == ["hr-1", "pir-1", "pir-2"]
    assert await store.sensors("dw-009") == []


async def test_last_before_end(store: TimeSeriesStore) -> None:
    await store.write_points([_pt(1, 61), _pt(2, 62), _pt(3, 63)])
    last = await store.last("dw-001", "hr-1", "heart_rate", T0 + 3)
    assert last is not None and _tv([last]) == [(2, 62)]
    assert await store.last("dw-001", "hr-1", "heart_rate", T0 + 1) is None
    assert await store.last("dw-001", "hr-1", "spo2", T0 + 10) is None


async def test_last_at_least_a_threshold(store: TimeSeriesStore) -> None:
    """The last time a motion sensor said 1."""
    motion = [_pt(t, v, "pir-1", "motion") for t, v in [(1, 1), (2, 0), (3, 1), (4, 0), (5, 0)]]
    await store.write_points(motion)
    got = await store.last_at_least("dw-001", "pir-1", "motion", 1, T0, T0 + 10)
    assert got is not None and _tv([got]) == [(3, 1)]
    got = await store.last_at_least("dw-001", "pir-1", "motion", 0.5, T0, T0 + 3)
    assert got is not None and _tv([got]) == [(1, 1)]
    assert await store.last_at_least("dw-001", "pir-1", "motion", 1, T0 + 4, T0 + 10) is None
    assert await store.last_at_least("dw-001", "pir-1", "motion", 2, T0, T0 + 10) is None


async def test_downsample_medians_per_bucket_from_start(store: TimeSeriesStore) -> None:
    # Buckets of 60 s from T0 + 30: [30, 90) holds 40, 50, 60; [90, 150) nothing;
    # [150, 210) holds 70 and 90. The point at 20 is before the range, 210 after it.
    values = [(20, 1), (30, 40), (50, 60), (89, 50), (150, 70), (209.5, 90), (210, 5)]
    await store.write_points([_pt(t, v) for t, v in values])
    got = await store.downsample("dw-001", "hr-1", "heart_rate", T0 + 30, T0 + 210, 60)
    assert got == [
        Bucket(t=T0 + 30, median=50, n=3, low=40, high=60),
        Bucket(t=T0 + 150, median=80, n=2, low=70, high=90),
    ]
    assert await store.downsample("dw-001", "hr-1", "heart_rate", T0 + 30, T0 + 30, 60) == []
    assert await store.downsample("dw-001", "hr-1", "spo2", T0, T0 + 300, 60) == []


async def test_hourly_medians_of_a_day(store: TimeSeriesStore) -> None:
    """The console's chart: a day of readings every 30 s, hourly buckets."""
    points = [_pt(t, 60 + (t // 3600)) for t in range(-86400, 0, 30)]
    await store.write_points(points)
    got = await store.downsample("dw-001", "hr-1", "heart_rate", T0 - 86400, T0, 3600)
    assert [(b.t - T0, b.median, b.n) for b in got] == [
        (-86400 + h * 3600, 60 + (h - 24), 120) for h in range(24)
    ]
