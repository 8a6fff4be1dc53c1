"""Alarm timelines as rows for the care organisation (`mz report alarms`): pure, no I/O
beyond the store it is given."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Protocol
from zoneinfo import ZoneInfo

from alerts.model import AlarmRecord, TimelineEntry

COLUMNS = (
    "alarm_id",
    "dwelling",
    "kind",
    "severity",
    "state",
    "outcome",
    "at",
    "seconds_after_raise",
    "what",
    "by",
    "note",
)


class TimelineSource(Protocol):
    def all_since(self, since: float) -> list[AlarmRecord]: ...
    def timeline(self, alarm_id: str) -> list[TimelineEntry]: ...


def rows(
    source: TimelineSource, *, since: float, until: float | None, tz: ZoneInfo
) -> Iterator[dict[str, str]]:
    """One row per timeline entry of every alarm received in [since, until), oldest alarm
    first; times as local ISO 8601 with offset."""
    alarms = [a for a in source.all_since(since) if until is None or a.received_at < until]
    for alarm in sorted(alarms, key=lambda a: (a.received_at, a.id)):
        for entry in source.timeline(alarm.id):
            yield {
                "alarm_id": alarm.id,
                "dwelling": alarm.dwelling,
                "kind": alarm.kind.value,
                "severity": alarm.severity.value,
                "state": alarm.state.value,
                "outcome": alarm.outcome.value if alarm.outcome else "",
                "at": datetime.fromtimestamp(entry.at, tz).isoformat(timespec="seconds"),
                "seconds_after_raise": f"{entry.at - alarm.raised_at:.1f}",
                "what": entry.what,
                "by": entry.by or "",
                "note": _one_line(entry.note),
            }


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())


def write_csv(
    out: IO[str], data: Iterable[dict[str, str]], columns: Sequence[str] = COLUMNS
) -> int:
    """Write `data` as CSV with a header of `columns` (the timeline rows' by default);
    returns the number of rows. Cells that a spreadsheet would run as a formula (=, +, -,
    @ first) are quoted with a leading '."""
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    n = 0
    for row in data:
        writer.writerow({k: _cell(v) for k, v in row.items()})
        n += 1
    return n


def _cell(value: str) -> str:
    if value[:1] in ("=", "+", "@", "\t", "\r") or (value[:1] == "-" and not _number(value)):
        return "'" + value
    return value


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
