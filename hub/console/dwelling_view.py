"""The dwelling page as the operator reads it: pure view models over `overview.Overview`,
in the operator's language and time zone. No I/O.

Each part (the routine, the NEWS2 box, a band change, a chart, a signal) is built on its
own (`hub.console.present.guarded`): one that cannot be formatted is shown as "niet weer te
geven" (with the event's id), the rest of the page as usual."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from alerts.present import DetailItem, details, duration, moment, number
from alerts.texts import BAND_LABELS, PARAM_LABELS
from hub.api.overview import BandChange, News2, Overview, RoutineProfile, VitalSeries
from hub.console.charts import QuietChart, Spark, clock, quiet_chart, sparkline
from hub.console.present import RenderFailures, guarded, record_id
from hub.console.texts import (
    EVENT_LABELS,
    UI,
    VITAL_LABELS,
    relative,
)
from hub.context import Dwelling, DwellingHealth
from hub.storage.base import StoredEvent

# Event kinds that are an alarm (or its cause) at the edge, and those that end one.
ALARM_EVENTS: Final = frozenset(
    {
        "vitals_alarm",
        "trend_alarm",
        "inactivity",
        "not_up",
        "out_of_bed_night",
        "night_door",
        "not_back_night",
        "fall_confirmed",
        "fall_alarm",
        "long_lie",
    }
)
CLEAR_EVENTS: Final = frozenset({"fall_recovered"})
WARNING_BANDS: Final = frozenset({"low_medium", "medium", "high"})
# Internal keys and NEWS2 sub-scores stay out of the event lines (the NEWS2 box has them).
HIDDEN_DETAIL: Final = frozenset({"key", "source"})
DEFAULT_DAYS_NEEDED: Final = 3  # edge.detectors.routine_model.RoutineConfig.min_learned_days
SPARK_GAP_S: Final = 25 * 3600.0  # no reading for a day: the line breaks


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class RoutineView:
    learned: bool
    status: str
    received: str
    received_ts: float
    facts: tuple[Fact, ...]
    chart: QuietChart | None
    chart_note: str  # e.g. "care-plan defaults", or why there is no chart
    has_asleep: bool


@dataclass(frozen=True, slots=True)
class News2View:
    score: str
    band: str  # the band's code, for the colour
    band_label: str
    when: str
    when_ts: float
    age: str
    partial: str  # "" or "partial: 2 of 7 parameters missing: ..."
    partial_count: str  # "" or "partial: 2 of 7 parameters missing"
    red_flag: bool
    subscores: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class BandRow:
    when: str
    band: str
    band_label: str
    previous_label: str
    score: str


@dataclass(frozen=True, slots=True)
class VitalView:
    quantity: str
    label: str
    sensor: str
    last: str
    last_when: str
    last_ts: float | None
    range: str
    lo: str
    hi: str
    spark: Spark
    count: int  # hourly points charted
    axis_start: str  # dd-mm at the left and right ends of the chart
    axis_end: str


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    when: str
    ts: float
    label: str
    known: bool
    tone: str  # alarm, warn, clear, info
    sensor: str
    details: tuple[DetailItem, ...]
    broken: bool = False  # True: `label` says "niet weer te geven" with the event's id


@dataclass(frozen=True, slots=True)
class DwellingPage:
    id: str
    label: str
    address: str
    online: bool | None  # None: never heard from
    last_seen: str
    last_seen_ts: float | None
    open_alarms: int
    as_of: str
    stored: bool
    routine: RoutineView | None
    news2: News2View | None
    bands: tuple[BandRow, ...]
    vitals: tuple[VitalView, ...]
    events: tuple[EventRow, ...]
    # Parts that could not be formatted: shown as "niet weer te geven".
    routine_broken: bool = False
    news2_broken: bool = False
    broken_vitals: tuple[str, ...] = ()  # "label (sensor)" of each chart left out


def _day(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz)).strftime("%d-%m")


def _band(code: str | None, lang: str) -> str:
    if code is None:
        return UI[lang]["unknown"]
    return BAND_LABELS[lang].get(code, code)


def _with_unit(value: float, unit: str, lang: str) -> str:
    text = number(value, lang)
    return f"{text}{unit}" if unit.startswith(("/", "%")) else f"{text} {unit}"


def routine_view(p: RoutineProfile, lang: str, tz: str, now: float) -> RoutineView:
    t = UI[lang]
    needed = p.days_needed or DEFAULT_DAYS_NEEDED
    days = p.days_learned or 0
    learned = p.learned if p.learned is not None else days >= needed
    status = (
        t["routine_learned"].format(days=days)
        if learned
        else t["routine_cold"].format(days=days, needed=needed)
    )

    def at(minute: float | None) -> str:
        return clock(minute) if minute is not None else t["not_yet"]

    if p.out_of_bed_enabled is False:
        oob = t["out_of_bed_off"]
    elif p.out_of_bed_limit_s is not None:
        oob = duration(p.out_of_bed_limit_s, lang)
    else:
        oob = t["unknown"]
    facts = [
        Fact(t["wake"], at(p.wake_min)),
        Fact(t["bedtime"], at(p.bedtime_min)),
        Fact(t["up_by"], at(p.up_by_min)),
        Fact(t["out_of_bed"], oob),
    ]
    if p.not_back == "on" and p.return_by_min is not None:
        facts.append(Fact(t["not_back"], clock(p.return_by_min)))
    elif p.not_back is not None and p.not_back != "on":
        facts.append(Fact(t["not_back"], t[f"not_back_{p.not_back}"]))
    night: tuple[float, float] | None = None
    if p.night_start_min is not None and p.night_end_min is not None:
        night = (p.night_start_min, p.night_end_min)
        facts.append(Fact(t["night"], f"{clock(night[0])} - {clock(night[1])}"))
    chart = None
    note = t["quiet_default"] if not learned else ""
    if p.bucket_min and p.quiet_awake_min:
        chart = quiet_chart(
            p.quiet_awake_min,
            p.quiet_asleep_min,
            p.bucket_min,
            night=night,
            up_by_min=p.up_by_min,
            hour="u" if lang == "nl" else "h",
            titles=(t["quiet_awake"], t["quiet_asleep"]),
        )
    else:
        note = t["quiet_missing"]
    return RoutineView(
        learned=learned,
        status=status,
        received=moment(p.ts, tz, now, lang),
        received_ts=p.ts,
        facts=tuple(facts),
        chart=chart,
        chart_note=note,
        has_asleep=any(v is not None for v in p.quiet_asleep_min),
    )


def news2_view(n: News2, lang: str, tz: str, now: float) -> News2View:
    t = UI[lang]
    params = PARAM_LABELS[lang]
    partial = count = ""
    if n.missing:
        count = t["news2_partial_count"].format(n=len(n.missing))
        partial = f"{count}: " + ", ".join(params.get(m, m) for m in n.missing)
    elif n.partial:
        partial = count = t["news2_partial"]
    return News2View(
        score=str(n.score) if n.score is not None else "?",
        band=n.band or "unknown",
        band_label=_band(n.band, lang),
        when=moment(n.ts, tz, now, lang),
        when_ts=n.ts,
        age=relative(now - n.ts, lang),
        partial=partial,
        partial_count=count,
        red_flag=bool(n.red_flag),
        subscores=tuple(Fact(params.get(k, k), str(v)) for k, v in n.subscores),
    )


def vital_view(
    s: VitalSeries, start: float, end: float, bucket_s: float, lang: str, tz: str
) -> VitalView:
    label, unit = VITAL_LABELS[lang].get(s.quantity, (s.quantity, ""))
    points = [(b.t + bucket_s / 2, b.median) for b in s.buckets]  # at the bucket's middle
    spark = sparkline(points, start, end, SPARK_GAP_S)
    low = min(b.low for b in s.buckets)
    high = max(b.high for b in s.buckets)
    return VitalView(
        quantity=s.quantity,
        label=label,
        sensor=s.sensor,
        last=_with_unit(s.last.value, unit, lang) if s.last else "",
        last_when=moment(s.last.t, tz, end, lang) if s.last else "",
        last_ts=s.last.t if s.last else None,
        range=f"{number(low, lang)} - {_with_unit(high, unit, lang)}",
        lo=number(spark.lo, lang),
        hi=number(spark.hi, lang),
        spark=spark,
        count=len(s.buckets),
        axis_start=_day(start, tz),
        axis_end=_day(end, tz),
    )


def event_details(
    detail: Mapping[str, object], lang: str, tz: str, now: float
) -> tuple[DetailItem, ...]:
    """An event's details in the operator's language, worded as in the alarm cards and
    mails (`alerts.present.details`)."""
    return details(detail, lang, tz, now)


def _tone(e: StoredEvent) -> str:
    if e.kind.endswith("_cancelled") or e.kind in CLEAR_EVENTS:
        return "clear"
    if e.kind in ALARM_EVENTS:
        return "alarm"
    if e.kind == "news2_band_changed":
        return "warn" if e.detail.get("band") in WARNING_BANDS else "clear"
    return "info"


def event_row(e: StoredEvent, lang: str, tz: str, now: float) -> EventRow:
    known = EVENT_LABELS[lang].get(e.kind)
    return EventRow(
        id=e.id,
        when=moment(e.ts, tz, now, lang),
        ts=e.ts,
        label=known or e.kind,
        known=known is not None,
        tone=_tone(e),
        sensor=e.sensor or "",
        details=event_details(e.detail, lang, tz, now),
    )


def _band_row(b: BandChange, lang: str, tz: str, now: float) -> BandRow:
    return BandRow(
        when=moment(b.ts, tz, now, lang),
        band=b.band or "unknown",
        band_label=_band(b.band, lang),
        previous_label=_band(b.previous_band, lang) if b.previous_band else "",
        score=str(b.score) if b.score is not None else "",
    )


def dwelling_page(
    ov: Overview,
    dwelling: Dwelling | None,
    health: DwellingHealth | None,
    open_alarms: int,
    lang: str,
    tz: str,
    failures: RenderFailures | None = None,
) -> DwellingPage:
    now = ov.now
    t = UI[lang]
    none = t["undisplayable"]
    where = ov.dwelling

    routine: RoutineView | None = None
    routine_broken = False
    if ov.routine is not None:
        p = ov.routine
        routine = guarded(failures, "routine of", where, lambda: routine_view(p, lang, tz, now),
                          lambda: None)  # fmt: skip
        routine_broken = routine is None
    news2: News2View | None = None
    news2_broken = False
    if ov.news2 is not None:
        n = ov.news2
        news2 = guarded(failures, "NEWS2 of", where, lambda: news2_view(n, lang, tz, now),
                        lambda: None)  # fmt: skip
        news2_broken = news2 is None
    bands = tuple(
        guarded(
            failures,
            "band change of",
            where,
            lambda b=b: _band_row(b, lang, tz, now),  # type: ignore[misc]
            lambda: BandRow(none, "unknown", none, "", ""),
        )
        for b in ov.band_history
    )
    vitals: list[VitalView] = []
    broken_vitals: list[str] = []
    for s in ov.vitals:
        made = guarded(
            failures,
            "chart of",
            f"{where} {s.sensor} {s.quantity}",
            lambda s=s: vital_view(s, ov.start, now, ov.bucket_s, lang, tz),  # type: ignore[misc]
            lambda: None,
        )
        if made is not None:
            vitals.append(made)
        else:
            label = VITAL_LABELS[lang].get(s.quantity, (s.quantity, ""))[0]
            broken_vitals.append(f"{label} ({s.sensor})")

    def broken_event(e: StoredEvent) -> EventRow:
        ident = record_id(e)
        label = t["undisplayable_event"].format(id=ident)
        return EventRow(ident, "", 0.0, label, True, "info", "", (), broken=True)

    events = tuple(
        guarded(
            failures,
            "event",
            record_id(e),
            lambda e=e: event_row(e, lang, tz, now),  # type: ignore[misc]
            lambda e=e: broken_event(e),  # type: ignore[misc]
        )
        for e in ov.events
    )
    return DwellingPage(
        id=ov.dwelling,
        label=dwelling.label if dwelling else ov.dwelling,
        address=dwelling.address if dwelling else "",
        online=health.online if health else None,
        last_seen=relative(now - health.last_seen, lang) if health and health.last_seen else "",
        last_seen_ts=health.last_seen if health else None,
        open_alarms=open_alarms,
        as_of=moment(now, tz, now, lang),
        stored=ov.stored,
        routine=routine,
        news2=news2,
        bands=bands,
        vitals=tuple(vitals),
        events=events,
        routine_broken=routine_broken,
        news2_broken=news2_broken,
        broken_vitals=tuple(broken_vitals),
    )
