"""Alarms and dwellings as the console shows them: pure view models, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.model import OPEN_STATES, AlarmRecord, AlarmState, Severity
from alerts.texts import (
    DETAIL_LABELS,
    DETAIL_VALUES,
    SEVERITY_LABELS,
    STATE_LABELS,
    YES_NO,
    kind_label,
)
from hub.api.texts import SENSOR_STATES, relative
from hub.context import Dwelling, DwellingHealth, SensorState

# Most urgent first, for the summary bar.
SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


def _local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz))


def clock_time(ts: float | None, tz: str) -> str:
    if ts is None:
        return ""
    return _local(ts, tz).strftime("%H:%M:%S")


def date_time(ts: float | None, tz: str) -> str:
    if ts is None:
        return ""
    return _local(ts, tz).strftime("%d-%m-%Y %H:%M:%S")


# -- alarm details ------------------------------------------------------------------------

# UNIX times between 2000-01-01 and 2100-01-01: a number there is a moment, not a count.
EPOCH_MIN = 946_684_800.0
EPOCH_MAX = 4_102_444_800.0
TIME_KEYS = frozenset({"last_seen", "since", "ts", "t"})
DETAIL_TEXT_MAX = 200  # free-form strings from the edge are cut here


@dataclass(frozen=True, slots=True)
class DetailItem:
    label: str  # "" when the value says it all ("knop ingedrukt")
    value: str


def number(value: float, lang: str) -> str:
    """A measured number rounded for reading: 3 significant figures or so, Dutch comma."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    decimals = 0 if size >= 100 else 1 if size >= 10 else 2
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.replace(".", ",") if lang == "nl" else text


def duration(seconds: float, lang: str) -> str:
    """'40 s', '5 min 40 s', '2 u 5 min' ('2 h 5 min'), '3 d 4 u'."""
    if not math.isfinite(seconds):
        return str(seconds)
    sign = "-" if seconds < 0 else ""
    size = abs(seconds)
    hour = "u" if lang == "nl" else "h"
    if size < 10 and size != int(size):
        return f"{sign}{number(size, lang)} s"
    s = round(size)
    if s < 60:
        parts = [f"{s} s"]
    elif s < 3600:
        parts = [f"{s // 60} min", f"{s % 60} s"]
    elif s < 86400:
        parts = [f"{s // 3600} {hour}", f"{s % 3600 // 60} min"]
    else:
        parts = [f"{s // 86400} d", f"{s % 86400 // 3600} {hour}"]
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()
    return sign + " ".join(parts)


def moment(ts: float, tz: str, now: float) -> str:
    """Local time like the rest of the page; with the date when it is not today."""
    local = _local(ts, tz)
    if local.date() == _local(now, tz).date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d-%m-%Y %H:%M:%S")


def _is_time(key: str, value: float) -> bool:
    if not EPOCH_MIN <= value < EPOCH_MAX:
        return False
    # An epoch-like number is a moment unless the key says it is a duration.
    return key in TIME_KEYS or key.endswith(("_at", "_ts")) or not key.endswith(("_s", "_min"))


def detail_value(key: str, value: float | int | bool | str, lang: str, tz: str, now: float) -> str:
    if isinstance(value, bool):
        yes, no = YES_NO[lang]
        return yes if value else no
    if isinstance(value, str):
        text = DETAIL_VALUES[lang].get(key, {}).get(value, value)
        return text if len(text) <= DETAIL_TEXT_MAX else text[: DETAIL_TEXT_MAX - 1] + "…"
    if key == "up_by_min" and 0 <= value < 24 * 60:  # minute of the day
        return f"{int(value) // 60:02d}:{int(value) % 60:02d}"
    if _is_time(key, value):
        return moment(value, tz, now)
    if key.endswith("_s"):
        return duration(value, lang)
    if key.endswith("_min"):
        return duration(value * 60, lang)
    return number(value, lang)


def details(
    detail: Mapping[str, float | int | bool | str | None], lang: str, tz: str, now: float
) -> tuple[DetailItem, ...]:
    """An alarm's details in the operator's language; `key` (internal) and None left out."""
    labels = DETAIL_LABELS[lang]
    return tuple(
        DetailItem(labels.get(k, k), detail_value(k, v, lang, tz, now))
        for k, v in detail.items()
        if k != "key" and v is not None
    )


# -- alarms --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmView:
    rec: AlarmRecord
    label: str  # the dwelling's label
    kind: str
    severity: str
    state: str
    is_open: bool
    acknowledged: bool
    version: str  # changes whenever what the card shows changes
    received: str
    # The card's age: since it came in, or for a resolved one since it was resolved.
    age_ts: float
    age: str
    age_title: str
    notified: str
    acknowledged_at: str
    resolved_at: str
    details: tuple[DetailItem, ...]


def alarm_view(rec: AlarmRecord, label: str, lang: str, tz: str, now: float) -> AlarmView:
    resolved = rec.state is AlarmState.RESOLVED and rec.resolved_at is not None
    age_ts = rec.resolved_at if resolved and rec.resolved_at is not None else rec.received_at
    return AlarmView(
        rec=rec,
        label=label,
        kind=kind_label(rec, lang),
        severity=SEVERITY_LABELS[lang][rec.severity],
        state=STATE_LABELS[lang][rec.state],
        is_open=rec.state in OPEN_STATES,
        acknowledged=rec.state is AlarmState.ACKNOWLEDGED,
        version=f"{rec.state.value}.{rec.notifications_sent}.{len(rec.note)}",
        received=clock_time(rec.received_at, tz),
        age_ts=age_ts,
        age=relative(now - age_ts, lang),
        age_title=date_time(age_ts, tz),
        notified=clock_time(rec.notified_at, tz),
        acknowledged_at=clock_time(rec.acknowledged_at, tz),
        resolved_at=clock_time(rec.resolved_at, tz),
        details=details(rec.detail, lang, tz, now),
    )


@dataclass(frozen=True, slots=True)
class Summary:
    open: int
    by_severity: tuple[tuple[str, str, int], ...]  # (severity value, label, count) if > 0
    unacknowledged: int


def summary(open_alarms: list[AlarmRecord], lang: str) -> Summary:
    counts = {s: 0 for s in SEVERITY_ORDER}
    for a in open_alarms:
        counts[a.severity] += 1
    return Summary(
        open=len(open_alarms),
        by_severity=tuple(
            (s.value, SEVERITY_LABELS[lang][s], n) for s, n in counts.items() if n > 0
        ),
        unacknowledged=sum(1 for a in open_alarms if a.state is not AlarmState.ACKNOWLEDGED),
    )


@dataclass(frozen=True, slots=True)
class SensorView:
    sensor: str
    kind: str
    state: str  # as the edge says it (the API's value)
    state_label: str  # in the operator's language
    battery: str
    ok: bool


@dataclass(frozen=True, slots=True)
class DwellingView:
    id: str
    label: str
    online: bool
    last_seen: str
    last_seen_ts: float | None
    spool_depth: int | None
    uptime: str
    sensors: tuple[SensorView, ...]
    open_alarms: int


def _uptime(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return ""
    hour = "u" if lang == "nl" else "h"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} {hour} {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} {hour}"


def _sensor(s: SensorState, lang: str) -> SensorView:
    battery = f"{s.battery:.0f}%" if s.battery is not None else ""
    label = SENSOR_STATES[lang].get(s.state, s.state)
    return SensorView(s.sensor, s.kind, s.state, label, battery, s.state == "ok")


def board_view(
    dwellings: list[Dwelling],
    health: list[DwellingHealth],
    open_alarms: list[AlarmRecord],
    lang: str,
    now: float,
) -> list[DwellingView]:
    """Every registered dwelling (and any unregistered one that reports), offline first."""
    by_id = {h.dwelling: h for h in health}
    labels = {d.id: d.label for d in dwellings}
    ids = list(labels) + [h.dwelling for h in health if h.dwelling not in labels]
    alarms: dict[str, int] = {}
    for a in open_alarms:
        alarms[a.dwelling] = alarms.get(a.dwelling, 0) + 1
    views = []
    for dw in ids:
        h = by_id.get(dw)
        views.append(
            DwellingView(
                id=dw,
                label=labels.get(dw, dw),
                online=bool(h and h.online),
                last_seen=relative(now - h.last_seen, lang) if h and h.last_seen else "",
                last_seen_ts=h.last_seen if h else None,
                spool_depth=h.spool_depth if h else None,
                uptime=_uptime(h.uptime_s, lang) if h and h.online else "",
                sensors=tuple(_sensor(s, lang) for s in h.sensors) if h else (),
                open_alarms=alarms.get(dw, 0),
            )
        )
    # Offline first: that is what an operator must notice; then by label.
    return sorted(views, key=lambda v: (v.online, v.label))
