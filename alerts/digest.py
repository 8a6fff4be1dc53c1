"""The folded mail: one mail about several alarms of one dwelling. Pure, no I/O.

It leads with the most severe alarm (in the subject too), lists up to `list_max` of the
others with their time and kind, counts the rest, and gives one link that acknowledges
every alarm the mail carries. Text from the wire appears only inside a line of ours,
never as a line (or a link) of its own; a record that cannot be formatted is listed as
"niet weer te geven" with its id, never a lost mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts.model import AlarmKind, AlarmRecord
from alerts.present import (
    advice,
    details,
    fit_short,
    minimal_mail,
    moment,
    needs_advice,
    one_line,
    short_text,
)
from alerts.texts import (
    FOLD_TEXTS,
    MAIL_TEXTS,
    SEVERITY_LABELS,
    kind_label,
    language,
    local_time,
)

log = logging.getLogger(__name__)

LIST_MAX = 10


def _item(alarm: AlarmRecord, lang: str, tz: str, now: float) -> str:
    t = FOLD_TEXTS[lang]
    try:
        return t["item"].format(
            when=moment(alarm.raised_at, tz, now),
            kind=kind_label(alarm, lang),
            severity=SEVERITY_LABELS[lang][alarm.severity],
        )
    except Exception:  # a record that cannot be shown is listed by id, never a lost mail
        log.warning("alarm %s cannot be shown in a folded mail", alarm.id, exc_info=True)
        return t["unrenderable"].format(id=alarm.id)


def _when(ts: float, tz: str, lang: str) -> str:
    try:
        return local_time(ts, tz, lang)
    except Exception:
        return "?"


def render_folded_mail(
    alarms: Sequence[AlarmRecord],
    *,
    lang: str,
    contact_name: str,
    dwelling_label: str,
    ack_url: str,
    ack_expires_at: float,
    tz: str,
    now: float,
    list_max: int = LIST_MAX,
    alarm_centre: bool = False,
) -> tuple[str, str]:
    """Subject and plain-text body for `alarms` (headline first, see `alerts.fold.plan`).
    Never raises for a record it cannot format: the headline's minimal mail goes instead
    (its link still acknowledges every alarm the mail carries).

    Says what to do when any alarm it carries is critical, or (`alarm_centre`) when the
    alarm centre handles one of them too."""
    if not alarms:
        raise ValueError("a folded mail needs at least one alarm")
    try:
        return _folded_body(
            alarms,
            lang,
            contact_name,
            dwelling_label,
            ack_url,
            ack_expires_at,
            tz,
            now,
            list_max,
            alarm_centre,
        )
    except Exception:
        log.warning("folded mail for alarm %s cannot be formatted", alarms[0].id, exc_info=True)
        return minimal_mail(
            alarms[0],
            lang=lang,
            contact_name=contact_name,
            dwelling_label=dwelling_label,
            ack_url=ack_url,
            ack_expires_at=ack_expires_at,
            round_=0,
            tz=tz,
            alarm_centre=alarm_centre,
        )


def _advised(alarms: Sequence[AlarmRecord], alarm_centre: bool) -> bool:
    """Whether a message about `alarms` says what to do (see `present.needs_advice`)."""
    return any(needs_advice(a, alarm_centre) for a in alarms)


def _folded_body(
    alarms: Sequence[AlarmRecord],
    lang: str,
    contact_name: str,
    dwelling_label: str,
    ack_url: str,
    ack_expires_at: float,
    tz: str,
    now: float,
    list_max: int,
    alarm_centre: bool,
) -> tuple[str, str]:
    lang = language(lang)
    t, f = MAIL_TEXTS[lang], FOLD_TEXTS[lang]
    head, others = alarms[0], alarms[1:]
    kind = kind_label(head, lang)
    subject_key = "subject_technical" if head.kind is AlarmKind.TECHNICAL else "subject_alarm"
    subject = t[subject_key].format(kind=kind, dwelling=dwelling_label)
    if len(others) == 1:
        subject += f["subject_more_one"]
    elif others:
        subject += f["subject_more"].format(more=len(others))
    lines = [
        t["greeting"].format(name=contact_name),
        "",
        f["summary"].format(dwelling=dwelling_label, count=len(alarms)),
        "",
        f["headline"].format(kind=kind, severity=SEVERITY_LABELS[lang][head.severity]),
        t["when"].format(when=_when(head.raised_at, tz, lang)),
    ]
    try:
        # Known codes only: text from the wire never becomes a line or a link in a mail.
        shown = details(head.detail, lang, tz, now=head.raised_at, codes_only=True)
    except Exception:
        log.warning("alarm %s: details cannot be shown in a folded mail", head.id, exc_info=True)
        shown = ()
    if shown:
        text = "; ".join(f"{d.label}: {d.value}" if d.label else d.value for d in shown)
        lines.append(t["detail"].format(detail=one_line(text)))
    if _advised(alarms, alarm_centre):
        lines += ["", advice(lang, alarm_centre)]
    if others:
        lines += ["", f["also"]]
        lines += [_item(a, lang, tz, now) for a in others[:list_max]]
        rest = len(others) - min(len(others), list_max)
        if rest == 1:
            lines.append(f["rest_one"])
        elif rest:
            lines.append(f["rest"].format(rest=rest))
    lines += [
        "",
        f["ack"],
        ack_url,
        t["ack_expiry"].format(until=_when(ack_expires_at, tz, lang)),
        "",
        "-- ",
        t["footer"],
    ]
    return subject, "\n".join(lines) + "\n"


def render_folded_short(
    alarms: Sequence[AlarmRecord],
    *,
    lang: str,
    dwelling_label: str,
    alarm_centre: bool = False,
) -> str:
    """The one line (<= 160 characters) for SMS and push about a folded message: the
    headline, how many others, and what to do if any is critical ("ALARM: val in Unit 3
    (urgentie: kritiek), en 4 andere meldingen. Ga direct kijken ..."). Never raises."""
    if not alarms:
        raise ValueError("a folded message needs at least one alarm")
    head = alarms[0]
    try:
        return short_text(
            head,
            lang=lang,
            dwelling_label=dwelling_label,
            more=len(alarms) - 1,
            alarm_centre=alarm_centre,
            advise=_advised(alarms, alarm_centre),
        )
    except Exception:  # a formatting bug must not cost a storm its SMS
        log.warning("folded short text for alarm %s cannot be formatted", head.id)
        return fit_short(lambda label: f"ALARM — {label}", dwelling_label)
