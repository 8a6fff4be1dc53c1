"""Alarms as people read them: detail lines and notification mails. Pure, no I/O.

Shared by the mails to mantelzorgers and the operators' console, so both say the same
thing in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.model import AlarmKind, AlarmRecord
from alerts.texts import (
    DETAIL_LABELS,
    DETAIL_VALUES,
    MAIL_TEXTS,
    PARAM_LABELS,
    SEVERITY_LABELS,
    YES_NO,
    kind_label,
    language,
    local_time,
)


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


def details(detail: Mapping[str, object], lang: str, tz: str, now: float) -> tuple[DetailItem, ...]:
    """Alarm or event details in the reader's language; `key` and `source` (internal) and
    None left out. NEWS2 details read clinically: the missing parameters by name, only the
    sub-scores that count ("zuurstofsaturatie (punten): 3"). Whatever is unknown is shown
    as sent (cut short), never an error."""
    labels = DETAIL_LABELS[lang]
    params = PARAM_LABELS[lang]
    out = []
    for k, v in detail.items():
        if v is None or k in ("key", "source"):
            continue
        label = labels.get(k, k)
        if k.startswith("sub_") and isinstance(v, int | float) and not isinstance(v, bool):
            if v == 0:
                continue
            label = f"{params.get(k[4:], k[4:])} ({labels['subscore']})"
            text = number(v, lang)
        elif k == "missing" and isinstance(v, str):
            text = ", ".join(params.get(p, p) for p in v.split(",") if p)
            if not text:
                continue
        elif isinstance(v, bool | int | float | str):
            text = detail_value(k, v, lang, tz, now)
        else:
            text = str(v)[:DETAIL_TEXT_MAX]
        out.append(DetailItem(label, text))
    return tuple(out)


def render_mail(
    alarm: AlarmRecord,
    *,
    lang: str,
    contact_name: str,
    dwelling_label: str,
    ack_url: str,
    ack_expires_at: float,
    round_: int,
    tz: str,
) -> tuple[str, str]:
    """Subject and plain-text body of one notification mail."""
    lang = language(lang)
    t = MAIL_TEXTS[lang]
    kind = kind_label(alarm, lang)
    subject_key = "subject_technical" if alarm.kind is AlarmKind.TECHNICAL else "subject_alarm"
    subject = t[subject_key].format(kind=kind, dwelling=dwelling_label)
    if round_ > 0:
        subject = t["subject_repeat"].format(round=round_) + subject
    lines = [
        t["greeting"].format(name=contact_name),
        "",
        t["what"].format(
            dwelling=dwelling_label, kind=kind, severity=SEVERITY_LABELS[lang][alarm.severity]
        ),
        t["when"].format(when=local_time(alarm.raised_at, tz, lang)),
    ]
    shown = details(alarm.detail, lang, tz, now=alarm.raised_at)
    if shown:
        text = "; ".join(f"{d.label}: {d.value}" if d.label else d.value for d in shown)
        lines.append(t["detail"].format(detail=text))
    if round_ > 0:
        lines += ["", t["repeat"].format(round=round_)]
    lines += [
        "",
        t["ack"],
        ack_url,
        t["ack_expiry"].format(until=local_time(ack_expires_at, tz, lang)),
        "",
        "-- ",
        t["footer"],
    ]
    return subject, "\n".join(lines) + "\n"
