"""Monthly figures for the care organisation (the impact measurement): per month and per
dwelling, alarms by kind and severity, time to first response and to being taken on (p50,
p90), hand-overs to the alarm centre, outcomes and the false-alarm share, sensor downtime.

Pure: the alarms, their timelines, the month's time zone and "now" come in as arguments
(`load` reads them from an `AlarmStore` or `AlarmService`). Every figure is defined in
docs/alerts.md, "Monthly report"; `mz report monthly` and `GET /api/v1/reports/monthly`
show it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from alerts.model import OPEN_STATES, AlarmKind, AlarmRecord, Outcome, Severity, TimelineEntry
from alerts.routing import is_shortcut
from sensors.commands import is_test_alarm

# Fewer values than this and a p50/p90 is shown but flagged `small_sample`: with 9
# values the p90 lies between the two slowest responses, and one alarm moves it a lot.
MIN_SAMPLE = 10
PERCENTILE_METHOD = "linear"  # see `percentile`

# Timeline steps that are a person answering the alarm (alerts.lifecycle, logged by
# alerts.service): an operator's acknowledgement in the console or API, a mantelzorger's
# "ik ga erheen" / "ik ben er" / close through their link. A close that resolves the
# alarm is logged as "resolved", so that counts too, unless a machine did it.
# An operator claiming an alarm is a person responding too (the alarm centre's answer).
HUMAN_STEPS = frozenset({"claimed", "acknowledged", "on_my_way", "arrived", "closed", "resolved"})
# Who is no person on a timeline: the edge (cancel), the hub (a technical alarm cleared,
# the hand-over to the centre) and the alarm centre's receiver (alerts.centre.CENTRE: its
# DC-09 ACK says a machine took the event, not that anybody looked at it).
MACHINES = frozenset({"edge", "hub", "centre"})
# Technical alarms (`detail["key"]`) that mean the dwelling's sensors could not be heard:
# the hub's "offline" (hub.presence.OFFLINE_KEY). The edge's silent or stuck sensor is an
# event, not an alarm, so it is not in these figures.
DOWNTIME_KEYS = frozenset({"offline"})

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1970 <= self.year <= 9998 and 1 <= self.month <= 12):
            raise ValueError(f"{self.year:04d}-{self.month:02d} is no month")

    @classmethod
    def parse(cls, text: str) -> Month:
        """ "2026-11" -> Month(2026, 11); ValueError with a clear text otherwise."""
        found = _MONTH.fullmatch(text.strip())
        try:
            if found is None:
                raise ValueError(text)
            return cls(int(found.group(1)), int(found.group(2)))
        except ValueError:
            raise ValueError(f"{text!r} is no month: give YYYY-MM, e.g. 2026-11") from None

    @classmethod
    def of(cls, ts: float, tz: ZoneInfo) -> Month:
        """The month `ts` (UNIX seconds) falls in, in `tz`."""
        local = datetime.fromtimestamp(ts, tz)
        return cls(local.year, local.month)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def bounds(self, tz: ZoneInfo) -> tuple[float, float]:
        """[start, end) in UNIX seconds: local midnight of the 1st to that of the next
        month's 1st. zoneinfo applies the offset in force at each, so a month with a DST
        change is an hour shorter (March) or longer (October) than its days."""
        nxt = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        end = datetime(nxt.year, nxt.month, 1, tzinfo=tz)
        return start.timestamp(), end.timestamp()

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def percentile(data: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted `data` by linear interpolation between the closest
    ranks: rank h = (n - 1) q, value x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])
    (Hyndman and Fan's type 7: numpy's default, Excel's PERCENTILE.INC)."""
    if not data:
        raise ValueError("no values")
    h = (len(data) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (h - lo) * (data[hi] - data[lo])


@dataclass(frozen=True, slots=True)
class Spread:
    """p50 and p90 of durations in seconds (rounded to ms); None without values."""

    n: int = 0
    p50_s: float | None = None
    p90_s: float | None = None
    small_sample: bool = False  # 0 < n < MIN_SAMPLE

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = sorted(values)
        if not data:
            return cls()
        return cls(
            len(data),
            round(percentile(data, 0.5), 3),
            round(percentile(data, 0.9), 3),
            len(data) < MIN_SAMPLE,
        )


@dataclass(frozen=True, slots=True)
class Figures:
    """One month's figures for one dwelling, or for all of them (docs/alerts.md)."""

    alarms: int  # received in the month, technical ones included
    by_kind: dict[str, int]  # every AlarmKind, zeros included
    by_severity: dict[str, int]
    care_alarms: int  # alarms that are not technical: the rest is about these
    first_response: Spread  # received -> the first person's response
    taken_on: Spread  # received -> acknowledged_at (taken on)
    no_response: int  # care alarms nobody responded to (yet)
    to_centre: int  # care alarms handed to the alarm centre
    to_centre_direct: int  # of those: at once (personal, fall, long lie, critical)
    to_centre_escalated: int  # of those: because nobody took it on in time
    to_centre_share: float | None  # to_centre / care_alarms
    outcomes: dict[str, int]  # every Outcome, zeros included
    with_outcome: int
    false_alarm_share: float | None  # false_alarm / with_outcome
    without_outcome: int  # resolved by a person without an outcome
    cancelled_at_edge: int  # resolved by the edge (the resident cancelled), no outcome
    still_open: int  # open at the report's moment, no outcome
    downtime_h: float  # hours the dwelling's sensors could not be heard (DOWNTIME_KEYS)
    outages: int  # downtime periods in the month (one spanning two months counts in both)

    @property
    def empty(self) -> bool:
        """Nothing happened: no alarm received, no downtime."""
        return self.alarms == 0 and self.outages == 0


@dataclass(frozen=True, slots=True)
class DwellingFigures:
    dwelling: str
    figures: Figures


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: Month
    timezone: str
    start: float  # UNIX seconds, the month's first local midnight
    end: float  # exclusive
    made_at: float  # "now": a month not over yet is counted up to here
    dwellings: tuple[DwellingFigures, ...]
    total: Figures

    @property
    def complete(self) -> bool:
        return self.made_at >= self.end


def first_response_at(alarm: AlarmRecord, timeline: Iterable[TimelineEntry]) -> float | None:
    """When a person first responded to the alarm (HUMAN_STEPS by someone not in
    MACHINES), or None."""
    times = [e.at for e in timeline if e.what in HUMAN_STEPS and (e.by or "") not in MACHINES]
    return min(times) if times else None


def monthly(
    alarms: Iterable[AlarmRecord],
    timeline: Callable[[str], Sequence[TimelineEntry]],
    *,
    month: Month,
    tz: ZoneInfo,
    now: float,
    dwellings: Iterable[str] = (),
    only: str | None = None,
) -> MonthlyReport:
    """The month's figures from `alarms` (at least those received in the month and those
    of DOWNTIME_KEYS open at any time in it; others are ignored) and their timelines (read
    for the care alarms received in the month). `dwellings`: ids to list even without
    alarms (the registry's). `only`: one dwelling's figures alone (the total is its)."""
    start, end = month.bounds(tz)
    # A test alarm (sensors.commands) is a check of the dwelling, not an incident.
    pool = [
        a
        for a in alarms
        if (only is None or a.dwelling == only) and is_test_alarm(dict(a.detail)) is None
    ]
    ids = {only} if only is not None else set(dwellings)
    inside = [a for a in pool if start <= a.received_at < end]
    responded = {
        a.id: first_response_at(a, timeline(a.id))
        for a in inside
        if a.kind is not AlarmKind.TECHNICAL
    }
    downtime = _downtime(pool, start, min(end, now))
    ids |= {a.dwelling for a in inside} | set(downtime)
    per = tuple(
        DwellingFigures(
            d,
            _figures(
                [a for a in inside if a.dwelling == d], responded, {d: downtime.get(d, (0.0, 0))}
            ),
        )
        for d in sorted(ids)
    )
    return MonthlyReport(month, tz.key, start, end, now, per, _figures(inside, responded, downtime))


def _figures(
    alarms: Sequence[AlarmRecord],
    responded: Mapping[str, float | None],
    downtime: Mapping[str, tuple[float, int]],
) -> Figures:
    care = [a for a in alarms if a.kind is not AlarmKind.TECHNICAL]
    first = [responded[a.id] for a in care]
    centre = [a for a in care if a.centre_handed_at is not None]
    direct = sum(1 for a in centre if is_shortcut(a.kind, a.severity))
    outcomes = {o.value: sum(1 for a in care if a.outcome is o) for o in Outcome}
    with_outcome = sum(outcomes.values())
    no_outcome = [a for a in care if a.outcome is None]
    cancelled = sum(1 for a in no_outcome if a.state not in OPEN_STATES and a.resolved_by == "edge")
    still_open = sum(1 for a in no_outcome if a.state in OPEN_STATES)
    return Figures(
        alarms=len(alarms),
        by_kind={k.value: sum(1 for a in alarms if a.kind is k) for k in AlarmKind},
        by_severity={s.value: sum(1 for a in alarms if a.severity is s) for s in Severity},
        care_alarms=len(care),
        first_response=Spread.of(
            max(0.0, at - a.received_at)
            for a, at in zip(care, first, strict=True)
            if at is not None
        ),
        taken_on=Spread.of(
            max(0.0, a.acknowledged_at - a.received_at)
            for a in care
            if a.acknowledged_at is not None
        ),
        no_response=sum(1 for at in first if at is None),
        to_centre=len(centre),
        to_centre_direct=direct,
        to_centre_escalated=len(centre) - direct,
        to_centre_share=len(centre) / len(care) if care else None,
        outcomes=outcomes,
        with_outcome=with_outcome,
        false_alarm_share=outcomes[Outcome.FALSE_ALARM.value] / with_outcome
        if with_outcome
        else None,
        without_outcome=len(no_outcome) - cancelled - still_open,
        cancelled_at_edge=cancelled,
        still_open=still_open,
        downtime_h=round(sum(s for s, _ in downtime.values()) / 3600.0, 3),
        outages=sum(n for _, n in downtime.values()),
    )


def _downtime(
    alarms: Iterable[AlarmRecord], start: float, end: float
) -> dict[str, tuple[float, int]]:
    """Per dwelling: seconds within [start, end) that a DOWNTIME_KEYS alarm was open (from
    its receipt to its resolution, or `end` while open), overlapping alarms counted once,
    and the number of such periods."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for a in alarms:
        if a.kind is not AlarmKind.TECHNICAL or a.detail.get("key") not in DOWNTIME_KEYS:
            continue
        lo = max(a.received_at, start)
        hi = min(a.resolved_at if a.resolved_at is not None else end, end)
        if hi > lo:
            spans.setdefault(a.dwelling, []).append((lo, hi))
    out: dict[str, tuple[float, int]] = {}
    for dwelling, found in spans.items():
        merged = list(_union(found))
        out[dwelling] = (sum(hi - lo for lo, hi in merged), len(merged))
    return out


def _union(spans: Iterable[tuple[float, float]]) -> Iterator[tuple[float, float]]:
    current: tuple[float, float] | None = None
    for lo, hi in sorted(spans):
        if current is not None and lo <= current[1]:
            current = (current[0], max(current[1], hi))
            continue
        if current is not None:
            yield current
        current = (lo, hi)
    if current is not None:
        yield current


class ReportSource(Protocol):
    """Where `load` reads alarms: `alerts.store.AlarmStore` or `alerts.service.AlarmService`."""

    def active_between(self, since: float, until: float) -> list[AlarmRecord]: ...
    def timeline(self, alarm_id: str) -> list[TimelineEntry]: ...


def load(
    source: ReportSource,
    month: Month,
    tz: ZoneInfo,
    now: float,
    *,
    dwellings: Iterable[str] = (),
    only: str | None = None,
) -> MonthlyReport:
    """`monthly` over what `source` holds for the month (blocking: SQLite reads)."""
    start, end = month.bounds(tz)
    return monthly(
        source.active_between(start, end),
        source.timeline,
        month=month,
        tz=tz,
        now=now,
        dwellings=dwellings,
        only=only,
    )


def default_month(now: float, tz: ZoneInfo) -> Month:
    """The last full month before `now`."""
    return Month.of(now, tz).previous()


def check_begun(month: Month, now: float, tz: ZoneInfo) -> None:
    """ValueError (a clear text) if `month` lies wholly after `now`."""
    if month.bounds(tz)[0] > now:
        raise ValueError(f"{month} has not begun yet")


# -- as JSON and CSV ----------------------------------------------------------------------


def as_dict(report: MonthlyReport, label: Callable[[str], str]) -> dict[str, Any]:
    """The report as JSON-ready values (`mz report monthly --json`, the API). `label`: a
    dwelling's name in the registry (its id when it has none)."""
    tz = ZoneInfo(report.timezone)
    return {
        "month": str(report.month),
        "timezone": report.timezone,
        "start": report.start,
        "end": report.end,
        "start_local": _local(report.start, tz),
        "end_local": _local(report.end, tz),
        "made_at": report.made_at,
        "complete": report.complete,
        "min_sample": MIN_SAMPLE,
        "percentile_method": PERCENTILE_METHOD,
        "total": asdict(report.total),
        "dwellings": [
            {"dwelling": d.dwelling, "label": label(d.dwelling), "figures": asdict(d.figures)}
            for d in report.dwellings
        ],
    }


def _local(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


_SPREADS = ("first_response", "taken_on")
COLUMNS = (
    "row",
    "month",
    "dwelling",
    "label",
    "alarms",
    *(f"kind_{k.value}" for k in AlarmKind),
    *(f"severity_{s.value}" for s in Severity),
    "care_alarms",
    *(
        f"{w}_{f}"
        for w in ("first_response", "taken_on")
        for f in ("n", "p50_s", "p90_s", "small_sample")
    ),
    "no_response",
    "to_centre",
    "to_centre_direct",
    "to_centre_escalated",
    "to_centre_share",
    *(f"outcome_{o.value}" for o in Outcome),
    "with_outcome",
    "false_alarm_share",
    "without_outcome",
    "cancelled_at_edge",
    "still_open",
    "downtime_h",
    "outages",
)


def csv_rows(report: MonthlyReport, label: Callable[[str], str]) -> Iterator[dict[str, str]]:
    """One row per dwelling, then the total (`row` = "dwelling" or "total"), in COLUMNS
    (for `alerts.report.write_csv`)."""
    for d in report.dwellings:
        yield _csv_row("dwelling", report.month, d.dwelling, label(d.dwelling), d.figures)
    yield _csv_row("total", report.month, "", "", report.total)


def _csv_row(row: str, month: Month, dwelling: str, label: str, f: Figures) -> dict[str, str]:
    out = {
        "row": row,
        "month": str(month),
        "dwelling": dwelling,
        "label": label,
        "alarms": str(f.alarms),
        **{f"kind_{k}": str(n) for k, n in f.by_kind.items()},
        **{f"severity_{s}": str(n) for s, n in f.by_severity.items()},
        "care_alarms": str(f.care_alarms),
    }
    for name, spread in zip(_SPREADS, (f.first_response, f.taken_on), strict=True):
        out[f"{name}_n"] = str(spread.n)
        out[f"{name}_p50_s"] = _num(spread.p50_s)
        out[f"{name}_p90_s"] = _num(spread.p90_s)
        out[f"{name}_small_sample"] = "true" if spread.small_sample else "false"
    out |= {
        "no_response": str(f.no_response),
        "to_centre": str(f.to_centre),
        "to_centre_direct": str(f.to_centre_direct),
        "to_centre_escalated": str(f.to_centre_escalated),
        "to_centre_share": _num(f.to_centre_share, 4),
        **{f"outcome_{o}": str(n) for o, n in f.outcomes.items()},
        "with_outcome": str(f.with_outcome),
        "false_alarm_share": _num(f.false_alarm_share, 4),
        "without_outcome": str(f.without_outcome),
        "cancelled_at_edge": str(f.cancelled_at_edge),
        "still_open": str(f.still_open),
        "downtime_h": _num(f.downtime_h, 2),
        "outages": str(f.outages),
    }
    return out


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"
