"""Alarms as people read them: detail lines and notification mails. Pure, no I/O.

Shared by the mails to mantelzorgers and the operators' console, so both say the same
thing in the same words.

Nothing here may take a page or a mail down. The formatters answer "niet weer te geven"
for a value they cannot show (a 400-digit integer, a time in the year 30 000 000), and
`render_mail` falls back to `minimal_mail` for a record it cannot format at all, so the
mantelzorger still gets the alarm and its link. In mails, text from the wire is shown only
when it is a known code (`details(..., codes_only=True)`): it never becomes a link or a
line of its own.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from alerts.model import AlarmKind, AlarmRecord, Severity
from alerts.texts import (
    ADVICE_TEXTS,
    DETAIL_LABELS,
    DETAIL_VALUES,
    KIND_LABELS,
    MAIL_TEXTS,
    MAIL_UNDISPLAYABLE,
    PARAM_LABELS,
    PARAM_UNITS,
    ROLE_LABELS,
    SEVERITY_LABELS,
    SHORT_TEXTS,
    TEXT_HIDDEN,
    UNDISPLAYABLE,
    WHAT_TEXTS,
    YES_NO,
    kind_label,
    language,
    local_datetime,
    local_time,
)
from sensors.contract import DETAIL_KEY_PATTERN

log = logging.getLogger(__name__)


def clock_time(ts: float | None, tz: str, lang: str = "nl") -> str:
    if ts is None:
        return ""
    local = local_datetime(ts, tz)
    return local.strftime("%H:%M:%S") if local else UNDISPLAYABLE[language(lang)]


def date_time(ts: float | None, tz: str, lang: str = "nl") -> str:
    if ts is None:
        return ""
    local = local_datetime(ts, tz)
    return local.strftime("%d-%m-%Y %H:%M:%S") if local else UNDISPLAYABLE[language(lang)]


# -- alarm details ------------------------------------------------------------------------

# UNIX times between 2000-01-01 and 2100-01-01: a number there is a moment, not a count.
EPOCH_MIN = 946_684_800.0
EPOCH_MAX = 4_102_444_800.0
TIME_KEYS = frozenset({"last_seen", "since", "ts", "t", "refused_at"})
DETAIL_TEXT_MAX = 200  # free-form strings from the edge are cut here
EXACT_INT_MAX: Final = 2**53  # larger integers are shown in powers of ten
DURATION_MAX_S: Final = 100 * 365.25 * 86400.0  # longer is no duration anybody can use
# What a mail shows of a string from the wire that is not a known code: minute lists
# ("12,30,,45") and dates ("2026-11-25") only. Never a letter, `.`, `/`, `:`, `@`, `+` or
# a space, so never a link, an address, a phone number or a sentence of the sender's
# choosing; an unknown key is left out of a mail altogether (its name is the sender's too).
CODE_RE: Final = re.compile(r"[0-9,]{1,64}|\d{4}-\d{2}-\d{2}")
# Codes of our own (NEWS2 parameters in `missing`) that have no label yet.
PARAM_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,15}")
_KEY_RE: Final = re.compile(DETAIL_KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class DetailItem:
    label: str  # "" when the value says it all ("knop ingedrukt")
    value: str


def number(value: float, lang: str) -> str:
    """A measured number rounded for reading: 3 significant figures or so, Dutch comma.
    Never raises: an integer too large even for a float is "niet weer te geven"."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) <= EXACT_INT_MAX:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            return UNDISPLAYABLE[language(lang)]
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 1e15:
        text = f"{value:.3g}"
    else:
        decimals = 0 if size >= 100 else 1 if size >= 10 else 2
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text == "-0":
            text = "0"
    return text.replace(".", ",") if lang == "nl" else text


def duration(seconds: float, lang: str) -> str:
    """'40 s', '5 min 40 s', '2 u 5 min' ('2 h 5 min'), '3 d 4 u'; beyond a century (or
    beyond a float) "niet weer te geven", never an error."""
    try:
        seconds = float(seconds)
    except OverflowError:
        return UNDISPLAYABLE[language(lang)]
    if not math.isfinite(seconds):
        return str(seconds)
    sign = "-" if seconds < 0 else ""
    size = abs(seconds)
    if size > DURATION_MAX_S:
        return UNDISPLAYABLE[language(lang)]
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


def moment(ts: float, tz: str, now: float, lang: str = "nl") -> str:
    """Local time like the rest of the page; with the date when it is not today."""
    local = local_datetime(ts, tz)
    if local is None:
        return UNDISPLAYABLE[language(lang)]
    today = local_datetime(now, tz)
    if today is not None and local.date() == today.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d-%m-%Y %H:%M:%S")


def _is_time(key: str, value: float) -> bool:
    if not EPOCH_MIN <= value < EPOCH_MAX:
        return False
    # An epoch-like number is a moment unless the key says it is a duration.
    return key in TIME_KEYS or key.endswith(("_at", "_ts")) or not key.endswith(("_s", "_min"))


def _cut(text: str) -> str:
    return text if len(text) <= DETAIL_TEXT_MAX else text[: DETAIL_TEXT_MAX - 1] + "…"


def code_text(key: str, value: str, lang: str) -> str:
    """A string detail as a mail shows it: the label of a known code, a value of the strict
    code form as it is, anything else "(tekst niet getoond)"."""
    known = DETAIL_VALUES[lang].get(key, {}).get(value)
    if known is not None:
        return known
    return value if CODE_RE.fullmatch(value) else TEXT_HIDDEN[lang]


def detail_value(
    key: str,
    value: float | int | bool | str,
    lang: str,
    tz: str,
    now: float,
    *,
    codes_only: bool = False,
) -> str:
    if isinstance(value, bool):
        yes, no = YES_NO[lang]
        return yes if value else no
    if isinstance(value, str):
        if codes_only:
            return _cut(code_text(key, value, lang))
        return _cut(DETAIL_VALUES[lang].get(key, {}).get(value, value))
    if key == "up_by_min" and 0 <= value < 24 * 60:  # minute of the day
        return f"{int(value) // 60:02d}:{int(value) % 60:02d}"
    if _is_time(key, value):
        return moment(value, tz, now, lang)
    if key.endswith("_s"):
        return duration(value, lang)
    if key.endswith("_min"):
        return duration(value * 60, lang)
    return number(value, lang)


def details(
    detail: Mapping[str, object], lang: str, tz: str, now: float, *, codes_only: bool = False
) -> tuple[DetailItem, ...]:
    """Alarm or event details in the reader's language; `key` and `source` (internal) and
    None left out. NEWS2 details read clinically: the missing parameters by name, only the
    sub-scores that count ("zuurstofsaturatie (punten): 3"). Whatever is unknown is shown
    as sent (cut short), never an error.

    `codes_only` (mails): a string value, and a key without a label, is shown only when it
    is a code (`code_text`); "(tekst niet getoond)" otherwise."""
    labels = DETAIL_LABELS[lang]
    params = PARAM_LABELS[lang]
    hidden = TEXT_HIDDEN[lang]

    def param(p: str) -> str:
        name = params.get(p)
        if name is not None:
            return name
        return p if not codes_only or PARAM_RE.fullmatch(p) else hidden

    def points(p: str) -> str:
        sub = detail.get(f"sub_{p}")
        if not isinstance(sub, int | float) or isinstance(sub, bool):
            return ""
        word = labels["subscore_one" if sub == 1 else "subscore"]
        return f" ({number(sub, lang)} {word})"

    measured = {k[4:] for k, v in detail.items() if k.startswith("val_") and _is_number(v)}
    out = []
    for k, v in detail.items():
        if v is None or k in ("key", "source", "val_dbp"):
            continue
        if k.startswith("sub_") and k[4:] in measured:
            continue  # read with its measured value
        if k.startswith("val_") and k[4:] in measured:
            p = k[4:]
            assert isinstance(v, int | float)
            name, text = _measured_item(p, v, detail, lang, param(p), labels)
            out.append(DetailItem(name, text + points(p)))
            continue
        if codes_only and isinstance(v, str) and not v:
            continue  # an empty text says nothing
        label = labels.get(k)
        if label is None:
            if codes_only and not k.startswith("sub_"):
                continue  # a mail shows only what we know how to say
            label = k
        if k.startswith("sub_") and isinstance(v, int | float) and not isinstance(v, bool):
            if v == 0:
                continue
            label = f"{param(k[4:])} ({labels['subscore']})"
            text = number(v, lang)
        elif k == "missing" and isinstance(v, str):
            text = _cut(", ".join(param(p) for p in v.split(",") if p))
            if not text:
                continue
        elif isinstance(v, bool | int | float | str):
            text = detail_value(k, v, lang, tz, now, codes_only=codes_only)
        else:
            text = hidden if codes_only else str(v)[:DETAIL_TEXT_MAX]
        out.append(DetailItem(label, text))
    return tuple(out)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _measured_item(
    p: str, v: float, detail: Mapping[str, object], lang: str, name: str, labels: Mapping[str, str]
) -> tuple[str, str]:
    """A measured NEWS2 parameter as read at the bedside: "zuurstofsaturatie", "88 %";
    the systolic pressure with the diastolic beside it: "bloeddruk", "142/88 mmHg"."""
    if p == "o2":
        yes, no = YES_NO[lang]
        return name, yes if v >= 0.5 else no
    unit = PARAM_UNITS.get(p, "")
    dbp = detail.get("val_dbp")
    if p == "sbp" and _is_number(dbp):
        assert isinstance(dbp, int | float)
        return labels["blood_pressure"], f"{number(v, lang)}/{number(dbp, lang)} {unit}"
    sep = "" if unit.startswith("/") else " "
    return name, f"{number(v, lang)}{sep}{unit}".strip()


# -- people --------------------------------------------------------------------------------


def person_label(name: str, role: str = "family", lang: str = "nl") -> str:
    """A person as a timeline or a page names them for what they did: "Anna de Vries
    (mantelzorger)". The role is left out when it is unknown or the name already says it
    (a name like "Mantelzorger van Unit 2" gets no second "(mantelzorger)")."""
    label = ROLE_LABELS[language(lang)].get(role)
    name = " ".join(name.split())
    if not label or label.casefold() in name.casefold():
        return name
    return f"{name} ({label})"


# -- mails -------------------------------------------------------------------------------


def what_line(alarm: AlarmRecord, lang: str, dwelling_label: str) -> str:
    """The mail's first sentence: what was reported where, with its urgency."""
    lang = language(lang)
    return WHAT_TEXTS[lang][alarm.kind].format(
        dwelling=dwelling_label,
        label=kind_label(alarm, lang),
        severity=SEVERITY_LABELS[lang][alarm.severity],
    )


def needs_advice(alarm: AlarmRecord, alarm_centre: bool = False) -> bool:
    """A mail or short text says what to do: the alarm is critical, or the alarm centre
    handles it too (never for a technical fault)."""
    if alarm.kind is AlarmKind.TECHNICAL:
        return False
    return alarm_centre or alarm.severity is Severity.CRITICAL


def advice(lang: str, alarm_centre: bool = False) -> str:
    """What to do: "Ga direct kijken of bel 112 bij levensgevaar.", and with
    `alarm_centre` that the alarm centre is alerted too."""
    t = ADVICE_TEXTS[language(lang)]
    return f"{t['act']} {t['centre']}" if alarm_centre else t["act"]


def full_mail(
    alarm: AlarmRecord,
    *,
    lang: str,
    contact_name: str,
    dwelling_label: str,
    ack_url: str,
    ack_expires_at: float,
    round_: int,
    tz: str,
    alarm_centre: bool = False,
) -> tuple[str, str]:
    """Subject and plain-text body of one notification mail, with every detail; raises on
    a record it cannot format (`render_mail` then sends `minimal_mail`)."""
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
        what_line(alarm, lang, dwelling_label),
        t["when"].format(when=local_time(alarm.raised_at, tz, lang)),
    ]
    shown = details(alarm.detail, lang, tz, now=alarm.raised_at, codes_only=True)
    if shown:
        text = "; ".join(f"{d.label}: {d.value}" if d.label else d.value for d in shown)
        lines.append(t["detail"].format(detail=text))
    if needs_advice(alarm, alarm_centre):
        lines += ["", advice(lang, alarm_centre)]
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


def _attempt(make: Callable[[], str]) -> str | None:
    """One piece of the minimal mail, or None when even that cannot be formatted."""
    try:
        return make()
    except Exception:  # the minimal mail must go out whatever is wrong with the record
        return None


def minimal_mail(
    alarm: AlarmRecord,
    *,
    lang: str,
    contact_name: str,
    dwelling_label: str,
    ack_url: str,
    ack_expires_at: float,
    round_: int,
    tz: str,
    alarm_centre: bool = False,
) -> tuple[str, str]:
    """The mail for a record that cannot be formatted: the kind, the dwelling's label, the
    time if it can be shown, what to do if it is critical, and the acknowledgement link.
    Each piece on its own, so one that fails is left out and the rest still goes."""
    lang = language(lang)
    t = MAIL_TEXTS[lang]
    none = UNDISPLAYABLE[lang]
    kind = _attempt(lambda: kind_label(alarm, lang)) or none
    technical = _attempt(lambda: "yes" if alarm.kind is AlarmKind.TECHNICAL else "")
    subject = t["subject_technical" if technical else "subject_alarm"].format(
        kind=kind, dwelling=dwelling_label
    )
    if isinstance(round_, int) and round_ > 0:
        subject = t["subject_repeat"].format(round=round_) + subject
    severity = _attempt(lambda: SEVERITY_LABELS[lang][alarm.severity]) or none
    what = _attempt(lambda: what_line(alarm, lang, dwelling_label))
    when = _attempt(lambda: local_time(alarm.raised_at, tz, lang))
    until = _attempt(lambda: local_time(ack_expires_at, tz, lang))
    ident = _attempt(lambda: str(alarm.id)[:64]) or "?"
    act = _attempt(lambda: advice(lang, alarm_centre) if needs_advice(alarm, alarm_centre) else "")
    lines = [
        t["greeting"].format(name=contact_name),
        "",
        what or t["what_unknown"].format(dwelling=dwelling_label, severity=severity),
    ]
    if when is not None and when != none:
        lines.append(t["when"].format(when=when))
    lines.append(MAIL_UNDISPLAYABLE[lang].format(id=ident))
    if act:
        lines += ["", act]
    lines += ["", t["ack"], ack_url]
    if until is not None and until != none:
        lines.append(t["ack_expiry"].format(until=until))
    lines += ["", "-- ", t["footer"]]
    return subject, "\n".join(lines) + "\n"


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
    alarm_centre: bool = False,
) -> tuple[str, str]:
    """Subject and plain-text body of one notification mail. Never raises: a record that
    cannot be formatted is logged at WARNING with its id and gets `minimal_mail`, so a
    poisoned alarm still reaches its mantelzorger with a working link.

    A critical alarm's mail, and (`alarm_centre`) one the alarm centre handles too, says
    what to do; the centre is named only when it is engaged."""
    for make in (full_mail, minimal_mail):
        try:
            return make(
                alarm,
                lang=lang,
                contact_name=contact_name,
                dwelling_label=dwelling_label,
                ack_url=ack_url,
                ack_expires_at=ack_expires_at,
                round_=round_,
                tz=tz,
                alarm_centre=alarm_centre,
            )
        except Exception:  # tomorrow's formatting bug must not cost an alarm mail
            ident = getattr(alarm, "id", "?")
            if make is full_mail:
                log.warning(
                    "alarm %s: the mail cannot be formatted; sending the minimal mail",
                    ident,
                    exc_info=True,
                )
            else:
                # Still not lost: the last resort below carries the link.
                log.warning("alarm %s: even the minimal mail failed", ident, exc_info=True)
    t = MAIL_TEXTS[language(lang)]
    return f"ALARM — {dwelling_label}", f"{t['ack']}\n{ack_url}\n"


# -- short texts (SMS, push) -----------------------------------------------------------------

SHORT_MAX: Final = 160  # one SMS; alerts.channels.Notification.short


def one_line(text: str) -> str:
    """`text` on one line: control characters (newlines too) become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def fit_short(make: Callable[[str], str], dwelling_label: str, limit: int = SHORT_MAX) -> str:
    """`make(label)` within `limit` characters, the dwelling's label cut short ("…") if it
    must; the text as a whole is cut only when even an empty label does not fit."""
    label = one_line(dwelling_label)
    text = make(label)
    if len(text) <= limit:
        return text
    room = limit - len(make(""))
    if room >= 2:
        return make(label[: room - 1] + "…")
    return text[: limit - 1] + "…"


def short_text(
    alarm: AlarmRecord,
    *,
    lang: str,
    dwelling_label: str,
    round_: int = 0,
    more: int = 0,
    alarm_centre: bool = False,
    advise: bool | None = None,
) -> str:
    """The short line for `alarm` (raises on a record it cannot format). `more`: other
    alarms a folded message carries; `advise`: say what to do (default: `needs_advice`)."""
    lang = language(lang)
    t = SHORT_TEXTS[lang]
    technical = alarm.kind is AlarmKind.TECHNICAL
    kind = kind_label(alarm, lang) if technical else KIND_LABELS[lang][alarm.kind]
    severity = SEVERITY_LABELS[lang][alarm.severity]
    more_text = t["more_one"] if more == 1 else t["more"].format(more=more) if more else ""
    prefix = t["repeat"].format(round=round_) if round_ > 0 else ""
    tail = ""
    if advise is None:
        advise = needs_advice(alarm, alarm_centre)
    if advise and not technical:
        a = ADVICE_TEXTS[lang]
        tail = " " + a["act"] + (" " + a["centre_short"] if alarm_centre else "")
    key = "technical" if technical else "alarm"

    def make(label: str) -> str:
        line = t[key].format(kind=kind, dwelling=label, severity=severity, more=more_text)
        return prefix + line + tail

    return fit_short(make, dwelling_label)


def render_short(
    alarm: AlarmRecord,
    *,
    lang: str,
    dwelling_label: str,
    round_: int = 0,
    alarm_centre: bool = False,
) -> str:
    """One line of at most 160 characters for SMS and push: what, where, the urgency and,
    for a critical or alarm-centre alarm, what to do ("ALARM: val in Unit 3 (urgentie:
    kritiek). Ga direct kijken of bel 112 bij levensgevaar."). The channel adds the
    acknowledgement link. Never raises: "ALARM — <label>" for a record it cannot format."""
    try:
        return short_text(
            alarm,
            lang=lang,
            dwelling_label=dwelling_label,
            round_=round_,
            alarm_centre=alarm_centre,
        )
    except Exception:  # a formatting bug must not cost an alarm its SMS
        log.warning("alarm %s: the short text cannot be formatted", getattr(alarm, "id", "?"))
        return fit_short(lambda label: f"ALARM — {label}", dwelling_label)
