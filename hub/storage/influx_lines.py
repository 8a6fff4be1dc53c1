"""Readings as InfluxDB line protocol, and the InfluxQL that reads them back. Pure.

One measurement, `reading`, with the tags dwelling (the pseudonymous id, never a name),
quantity and sensor, and one float field `value`:

    reading,dwelling=dw-001,quantity=heart_rate,sensor=hr-1 value=61.0 1796319525000000

One measurement rather than one per quantity: the console asks per (dwelling, sensor,
quantity) and "everything of a dwelling" (latest, sensors), which on one measurement is
one series key lookup; a quantity added by an edge needs no new measurement. Timestamps
are integer microseconds (precision `us` on every write), so a point's key
(dwelling, sensor, quantity, t) is exact to 1 µs and a rewritten point replaces itself:
writes are idempotent, as TimeSeriesStore asks. Lines are built as strings here, not as
influxdb-client `Point` objects: about 7x faster (docs/hub.md, ENVIRONMENT figures).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

from hub.storage.base import Point

MEASUREMENT: Final = "reading"
AGGREGATE_MEASUREMENT: Final = "reading_1m"
RAW_POLICY: Final = "mz_raw"
AGGREGATE_POLICY: Final = "mz_1m"
CONTINUOUS_QUERY: Final = "mz_reading_1m"
US: Final = 1_000_000

_TAG_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})


def to_us(t: float) -> int:
    return round(t * US)


def from_us(t: int) -> float:
    return t / US


def _tag(value: str) -> str:
    if "\n" in value or not value:
        raise ValueError(f"tag value {value!r} cannot go into line protocol")
    return value.translate(_TAG_ESCAPES)


def encode(points: Iterable[Point]) -> list[str]:
    """One line per point; ValueError for a value that is not a finite number (ingest
    validates readings, so this is a bug guard, not a filter)."""
    lines: list[str] = []
    tags: dict[tuple[str, str, str], str] = {}  # a batch repeats its few series
    for p in points:
        key = (p.dwelling, p.sensor, p.quantity)
        prefix = tags.get(key)
        if prefix is None:
            prefix = tags[key] = (
                f"{MEASUREMENT},dwelling={_tag(p.dwelling)},quantity={_tag(p.quantity)}"
                f",sensor={_tag(p.sensor)} value="
            )
        value = float(p.value)
        if not math.isfinite(value):
            raise ValueError(f"{p.sensor}/{p.quantity} value {value!r} is not finite")
        lines.append(f"{prefix}{value!r} {to_us(p.t)}")
    return lines


def string(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    """An InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def where(dwelling: str, sensor: str, quantity: str) -> str:
    return (
        f"dwelling = {string(dwelling)} AND sensor = {string(sensor)}"
        f" AND quantity = {string(quantity)}"
    )


def time_range(start: float | None, end: float) -> str:
    lower = "" if start is None else f"time >= {to_us(start)}u AND "
    return f"{lower}time < {to_us(end)}u"


def series(dwelling: str, sensor: str, quantity: str, start: float, end: float) -> str:
    return (
        f"SELECT value FROM {MEASUREMENT} WHERE {where(dwelling, sensor, quantity)}"
        f" AND {time_range(start, end)} ORDER BY time ASC"
    )


def latest(dwelling: str) -> str:
    # last() is a selector: it returns the newest point's own time.
    return (
        f"SELECT last(value) FROM {MEASUREMENT} WHERE dwelling = {string(dwelling)}"
        " GROUP BY sensor, quantity"
    )


def sensors(dwelling: str) -> str:
    return (
        f'SHOW TAG VALUES FROM {MEASUREMENT} WITH KEY = "sensor"'
        f" WHERE dwelling = {string(dwelling)}"
    )


def newest(
    dwelling: str,
    sensor: str,
    quantity: str,
    start: float | None,
    end: float,
    threshold: float | None = None,
) -> str:
    at_least = "" if threshold is None else f" AND value >= {float(threshold)!r}"
    return (
        f"SELECT value FROM {MEASUREMENT} WHERE {where(dwelling, sensor, quantity)}"
        f" AND {time_range(start, end)}{at_least} ORDER BY time DESC LIMIT 1"
    )


def downsample(
    dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
) -> str:
    """Median, count, min and max per bucket; buckets start at `start` (InfluxQL's
    buckets start at the epoch, so the offset moves them), empty ones left out."""
    bucket = max(1, to_us(bucket_s))
    offset = to_us(start) % bucket
    return (
        "SELECT median(value), count(value), min(value), max(value)"
        f" FROM {MEASUREMENT} WHERE {where(dwelling, sensor, quantity)}"
        f" AND {time_range(start, end)} GROUP BY time({bucket}u, {offset}u) fill(none)"
    )


def retention_statements(database: str, raw_days: float, aggregate_days: float) -> list[str]:
    """Create (or change) the two retention policies and the 1-minute continuous query
    on InfluxDB 1.x. CREATE fails on an existing policy with other settings, so each
    CREATE has an ALTER after it (see influx_query.setup_retention)."""
    db = ident(database)
    return [
        f"CREATE DATABASE {db}",
        f"CREATE RETENTION POLICY {ident(RAW_POLICY)} ON {db}"
        f" DURATION {_hours(raw_days)} REPLICATION 1 DEFAULT",
        f"CREATE RETENTION POLICY {ident(AGGREGATE_POLICY)} ON {db}"
        f" DURATION {_hours(aggregate_days)} REPLICATION 1",
    ]


def alter_policy(database: str, name: str, days: float, *, default: bool) -> str:
    return (
        f"ALTER RETENTION POLICY {ident(name)} ON {ident(database)}"
        f" DURATION {_hours(days)}{' DEFAULT' if default else ''}"
    )


def aggregate_select(database: str, *, between: tuple[float, float] | None = None) -> str:
    """The 1-minute aggregates (median, n, low, high per series) into the long-lived
    policy. The continuous query runs it each minute; `between` runs it once over a
    range (a backfill, or a test)."""
    db = ident(database)
    bounds = "" if between is None else f" WHERE {time_range(*between)}"
    return (
        "SELECT median(value) AS median, count(value) AS n, min(value) AS low,"
        f" max(value) AS high INTO {db}.{ident(AGGREGATE_POLICY)}.{AGGREGATE_MEASUREMENT}"
        f" FROM {db}.{ident(RAW_POLICY)}.{MEASUREMENT}{bounds} GROUP BY time(1m), *"
    )


def continuous_query(database: str) -> str:
    return (
        f"CREATE CONTINUOUS QUERY {ident(CONTINUOUS_QUERY)} ON {ident(database)}"
        f" BEGIN {aggregate_select(database)} END"
    )


def drop_continuous_query(database: str) -> str:
    return f"DROP CONTINUOUS QUERY {ident(CONTINUOUS_QUERY)} ON {ident(database)}"


def _hours(days: float) -> str:
    return f"{max(1, round(days * 24))}h"


def body(lines: Sequence[str]) -> str:
    return "\n".join(lines)
