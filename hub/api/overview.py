"""One dwelling's early-warning overview, from what the hub stored: the learned routine
(the newest `routine_profile` event), NEWS2 (`news2_band_changed`, `news2_updated`,
`vitals_alarm` events), vital-sign readings downsampled to hourly medians, and the recent
early-warning events. Language-neutral (codes, UNIX seconds): the console's dwelling
page and the JSON API both show it.

The events come from the edge with flat details (sensors.contract); whatever is
missing or of the wrong type is read as unknown (None), never an error: an agent of
another version may send less, or more.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from hub.storage.base import Bucket, Point, StoredEvent, TimeSeriesStore

log = logging.getLogger(__name__)

T = TypeVar("T")

DAY_S: Final = 86400.0
WINDOW_DAYS: Final = 14  # band history and vital-sign charts
BUCKET_S: Final = 3600.0  # charts: hourly medians, at most 24 points a day per series
EVENT_LIMIT: Final = 30
# Clocks at the source may run a little ahead of the hub's.
FUTURE_SLACK_S: Final = DAY_S

# Reading quantities shown as vital signs, in this order (edge/vitals_adapter.py).
VITAL_QUANTITIES: Final = ("hr", "spo2", "sbp", "dbp", "rr", "temperature", "weight")
# `temperature` is body temperature from a thermometer but also room climate from an
# ordinary BTHome sensor, and the hub does not know a device's role: a series whose
# median lies outside this range (degC) is room air, not a resident, and is left out.
BODY_TEMPERATURE: Final = (32.0, 43.0)

ROUTINE_KIND: Final = "routine_profile"
BAND_KIND: Final = "news2_band_changed"
# Events that carry a NEWS2 result (score, band, partial, missing, sub_<param>).
NEWS2_KINDS: Final = (BAND_KIND, "news2_updated", "vitals_alarm", "vitals_alarm_cancelled")
# The recent early-warning events: every kind starting with one of these (so a new kind
# of a known family, e.g. a trend rule's, shows up too; the page shows unknown ones raw).
EVENT_PREFIXES: Final = (
    "news2_",
    "vitals_alarm",
    "trend_",
    "inactivity",
    "not_up",
    "out_of_bed",
    "night_door",
    "not_back",
    "away",
    "sensor_noisy",
    "impact_",
    "fall_",
    "long_lie",
)


# The states of the not-back-at-night rule an edge reports (anything else: not shown).
NOT_BACK_STATES: Final = frozenset({"on", "learning", "nights_away", "off"})


@dataclass(frozen=True, slots=True)
class RoutineProfile:
    """The edge's copy of its learned routine (edge/routine_adapter.py `profile()`).

    Times of day are minutes after local midnight (bedtime and night start may be
    negative: before midnight); thresholds are minutes per bucket of `bucket_min`
    from 00:00 (None: not watched there / not sent).
    """

    ts: float
    days_learned: int | None
    days_needed: int | None
    learned: bool | None
    wake_min: float | None
    bedtime_min: float | None
    up_by_min: float | None
    out_of_bed_limit_s: float | None
    out_of_bed_enabled: bool | None
    return_by_min: float | None
    not_back: str | None  # "on", "learning", "nights_away", "off" (None: not sent)
    night_start_min: float | None
    night_end_min: float | None
    bucket_min: int | None
    quiet_awake_min: tuple[float | None, ...]
    quiet_asleep_min: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class News2:
    ts: float
    kind: str  # the event it came with
    score: int | None
    band: str | None  # edge.detectors.news2.Band value: zero, low, low_medium, medium, high
    partial: bool | None
    missing: tuple[str, ...]  # NEWS2 parameters without a recent value (rr, acvpu, ...)
    red_flag: bool | None
    subscores: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class BandChange:
    ts: float
    band: str | None
    previous_band: str | None
    score: int | None


@dataclass(frozen=True, slots=True)
class VitalSeries:
    sensor: str
    quantity: str
    buckets: tuple[Bucket, ...]
    last: Point | None


@dataclass(frozen=True, slots=True)
class Overview:
    dwelling: str
    now: float
    start: float  # of the charts' and the band history's window
    bucket_s: float
    stored: bool  # False: this hub keeps no history (nothing below can be filled)
    routine: RoutineProfile | None
    news2: News2 | None
    band_history: tuple[BandChange, ...]
    vitals: tuple[VitalSeries, ...]
    events: tuple[StoredEvent, ...]


# -- reading event details (tolerant) -------------------------------------------------------


# Larger numbers are no minute, day count or duration of a resident's routine (stored
# details from before the strict contract may hold a 400-digit integer).
NUMBER_MAX: Final = 2.0**53


def _number(d: Mapping[str, object], key: str) -> float | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, int) and abs(v) > NUMBER_MAX:
        return None  # float() of it would overflow
    x = float(v)
    return x if math.isfinite(x) and abs(x) <= NUMBER_MAX else None


def _int(d: Mapping[str, object], key: str) -> int | None:
    v = _number(d, key)
    return round(v) if v is not None else None


def _bool(d: Mapping[str, object], key: str) -> bool | None:
    v = d.get(key)
    return v if isinstance(v, bool) else None


def _text(d: Mapping[str, object], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) and v else None


def _minutes_list(text: str | None) -> tuple[float | None, ...]:
    if not text:
        return ()
    out: list[float | None] = []
    for item in text.split(","):
        try:
            v = float(item)
        except ValueError:
            out.append(None)
            continue
        out.append(v if math.isfinite(v) and 0 <= v <= NUMBER_MAX else None)
    return tuple(out)


def routine_profile(event: StoredEvent) -> RoutineProfile:
    d = event.detail
    bucket = _int(d, "quiet_bucket_min")
    awake = _minutes_list(_text(d, "quiet_awake_min"))
    asleep = _minutes_list(_text(d, "quiet_asleep_min"))
    # The buckets must cover the day exactly, or the chart would put them at wrong times.
    if bucket is None or bucket <= 0 or 1440 % bucket:
        bucket, awake, asleep = None, (), ()
    n = 1440 // bucket if bucket else 0
    return RoutineProfile(
        ts=event.ts,
        days_learned=_int(d, "days_learned"),
        days_needed=_int(d, "days_needed"),
        learned=_bool(d, "learned"),
        wake_min=_number(d, "wake_min"),
        bedtime_min=_number(d, "bedtime_min"),
        up_by_min=_number(d, "up_by_min"),
        out_of_bed_limit_s=_number(d, "out_of_bed_limit_s"),
        out_of_bed_enabled=_bool(d, "out_of_bed_enabled"),
        return_by_min=_number(d, "return_by_min"),
        not_back=nb if (nb := _text(d, "not_back")) in NOT_BACK_STATES else None,
        night_start_min=_number(d, "night_start_min"),
        night_end_min=_number(d, "night_end_min"),
        bucket_min=bucket,
        quiet_awake_min=awake if len(awake) == n else (),
        quiet_asleep_min=asleep if len(asleep) == n else (),
    )


def news2(event: StoredEvent) -> News2:
    d = event.detail
    missing = tuple(m for m in (_text(d, "missing") or "").split(",") if m)
    subs = tuple(
        (k.removeprefix("sub_"), v)
        for k in sorted(d)
        if k.startswith("sub_") and (v := _int(d, k)) is not None
    )
    return News2(
        ts=event.ts,
        kind=event.kind,
        score=_int(d, "score"),
        band=_text(d, "band"),
        partial=_bool(d, "partial"),
        missing=missing,
        red_flag=_bool(d, "red_flag"),
        subscores=subs,
    )


def band_change(event: StoredEvent) -> BandChange:
    d = event.detail
    return BandChange(event.ts, _text(d, "band"), _text(d, "previous_band"), _int(d, "score"))


def _read(parse: Callable[[StoredEvent], T], event: StoredEvent) -> T | None:
    """The parsers above are tolerant by design; should one still fail on a stored event,
    the page goes without that event rather than not at all."""
    try:
        return parse(event)
    except Exception:  # one stored event must not take the dwelling page down
        log.warning("event %s (%s) cannot be read; left out", event.id, event.kind, exc_info=True)
        return None


# -- loading ----------------------------------------------------------------------------------


def _is_body_temperature(buckets: tuple[Bucket, ...]) -> bool:
    medians = sorted(b.median for b in buckets)
    mid = medians[len(medians) // 2]
    return BODY_TEMPERATURE[0] <= mid <= BODY_TEMPERATURE[1]


async def vital_series(
    store: TimeSeriesStore, dwelling: str, start: float, end: float, bucket_s: float
) -> list[VitalSeries]:
    out: list[VitalSeries] = []
    sensors = await store.sensors(dwelling)
    for quantity in VITAL_QUANTITIES:
        for sensor in sensors:
            last = await store.last(dwelling, sensor, quantity, end)
            if last is None or last.t < start:
                continue  # this sensor has no such quantity, or nothing in the window
            buckets = tuple(
                await store.downsample(dwelling, sensor, quantity, start, end, bucket_s)
            )
            if not buckets or (quantity == "temperature" and not _is_body_temperature(buckets)):
                continue
            out.append(VitalSeries(sensor, quantity, buckets, last))
    return out


async def load(
    store: TimeSeriesStore | None,
    dwelling: str,
    now: float,
    *,
    days: int = WINDOW_DAYS,
    event_limit: int = EVENT_LIMIT,
    bucket_s: float = BUCKET_S,
) -> Overview:
    """Every query is bounded: one routine profile, <= 50 NEWS2 events, <= 500 band
    changes, `event_limit` events, and <= days * 24 points per chart."""
    start = now - days * DAY_S
    if store is None:
        return Overview(dwelling, now, start, bucket_s, False, None, None, (), (), ())
    end = now + FUTURE_SLACK_S
    profiles = await store.events(dwelling, 0.0, end, 1, kinds=(ROUTINE_KIND,))
    scored = [
        e
        for e in await store.events(dwelling, 0.0, end, 50, kinds=NEWS2_KINDS)
        if "band" in e.detail or "score" in e.detail
    ]
    bands = await store.events(dwelling, start, end, 500, kinds=(BAND_KIND,))
    events = await store.events(dwelling, 0.0, end, event_limit, prefixes=EVENT_PREFIXES)
    return Overview(
        dwelling=dwelling,
        now=now,
        start=start,
        bucket_s=bucket_s,
        stored=True,
        routine=_read(routine_profile, profiles[0]) if profiles else None,
        news2=_read(news2, scored[0]) if scored else None,
        band_history=tuple(b for e in bands if (b := _read(band_change, e)) is not None),
        vitals=tuple(await vital_series(store, dwelling, start, now, bucket_s)),
        events=tuple(events),
    )


# -- around one alarm ---------------------------------------------------------------------------

AROUND_BEFORE_S: Final = 30 * 60.0  # signals this long before an alarm's raise are "around" it
AROUND_AFTER_S: Final = 10 * 60.0
AROUND_LIMIT: Final = 20
RECENT_S: Final = 3600.0  # the alarm page's "last hour" of readings
RECENT_BUCKET_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class AroundAlarm:
    """What the alarm page shows next to the alarm itself: the dwelling's detector signals
    around its raise (the fall's posture and stillness, the NEWS2 updates, the inactivity
    event) and its vital-sign readings of the last hour, per minute."""

    stored: bool  # False: this hub keeps no history
    events: tuple[StoredEvent, ...]  # newest first
    vitals: tuple[VitalSeries, ...]
    start: float  # the readings' window
    end: float
    bucket_s: float


async def around(
    store: TimeSeriesStore | None, dwelling: str, raised_at: float, now: float
) -> AroundAlarm:
    """Bounded: <= AROUND_LIMIT events and <= 60 points per chart."""
    start = now - RECENT_S
    if store is None:
        return AroundAlarm(False, (), (), start, now, RECENT_BUCKET_S)
    events = await store.events(
        dwelling,
        raised_at - AROUND_BEFORE_S,
        raised_at + AROUND_AFTER_S,
        AROUND_LIMIT,
        prefixes=EVENT_PREFIXES,
    )
    vitals = await vital_series(store, dwelling, start, now, RECENT_BUCKET_S)
    return AroundAlarm(True, tuple(events), tuple(vitals), start, now, RECENT_BUCKET_S)
