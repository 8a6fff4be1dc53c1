"""The all-clear: what a contact who was told of an alarm is told once it is over (pure).

An inactivity alarm the dwelling withdrew because the resident moves again, a fault that
cleared, a fall the resident called off with the pendant, an alarm someone else handled:
a mantelzorger who got the alarm should not drive over, or keep worrying, for nothing.
The message says what it was, when, how it ended and that nothing is left to do; it has
no link (there is nothing to take on). Who gets one is the service's choice
(alerts.service, "all-clears").
"""

from __future__ import annotations

import logging

from alerts.model import AlarmKind, AlarmRecord, Outcome
from alerts.present import fit_short, one_line
from alerts.texts import (
    ALL_CLEAR_TEXTS,
    MAIL_TEXTS,
    OUTCOME_LABELS,
    UNDISPLAYABLE,
    kind_label,
    language,
    local_time,
)

log = logging.getLogger(__name__)

# Who resolves an alarm without being a person (alerts.lifecycle): the dwelling's edge,
# the hub itself (a technical alarm it cleared). Anyone else who is not the closing
# contact (an operator, the alarm centre) reads as the alarm centre.
_EDGE, _HUB = "edge", "hub"


def _why(alarm: AlarmRecord, lang: str, closer: str | None) -> str:
    t = ALL_CLEAR_TEXTS[lang]
    by = alarm.resolved_by or ""
    if by == _EDGE:
        if alarm.kind in (AlarmKind.FALL, AlarmKind.LONG_LIE):
            return t["why_edge_fall"]
        key = f"why_edge_{alarm.kind.value}"
        return t.get(key, t["why_edge"])
    if by == _HUB:
        return t["why_hub"]
    if closer:
        return t["why_person"].format(who=closer)
    return t["why_centre"]


def render_all_clear(
    alarm: AlarmRecord,
    *,
    lang: str,
    contact_name: str,
    dwelling_label: str,
    tz: str,
    closer: str | None = None,
) -> tuple[str, str, str]:
    """Subject, plain-text body and short line (one SMS) of the all-clear for `alarm`
    (resolved). `closer`: the name of the contact who closed it, when one did (an
    operator is not named: "the alarm centre"). Never raises: a record that cannot
    be formatted gets a plain "over" with the dwelling's label."""
    lang = language(lang)
    t = ALL_CLEAR_TEXTS[lang]
    try:
        kind = kind_label(alarm, lang)
        when = local_time(alarm.raised_at, tz, lang)
        why = _why(alarm, lang, closer)
        # "Anders" tells the family nothing: left out.
        outcome = (
            OUTCOME_LABELS[lang][alarm.outcome.value].lower()
            if alarm.outcome is not None and alarm.outcome is not Outcome.OTHER
            else ""
        )
    except Exception:  # a formatting bug must not turn an all-clear into a crash
        log.warning("alarm %s: the all-clear cannot be formatted", getattr(alarm, "id", "?"))
        kind, when, why, outcome = UNDISPLAYABLE[lang], UNDISPLAYABLE[lang], "", ""
    label = one_line(dwelling_label)
    subject = t["subject"].format(kind=kind, dwelling=label)
    line = t["line"].format(kind=kind, when=when, dwelling=label, why=why)
    if not why:
        line = line.replace(": .", ".")
    lines = [MAIL_TEXTS[lang]["greeting"].format(name=contact_name), "", line]
    if outcome:
        lines.append(t["outcome"].format(outcome=outcome))
    lines += ["", t["nothing_to_do"], "", "-- ", MAIL_TEXTS[lang]["footer"]]
    short = fit_short(lambda lb: t["short"].format(kind=kind, dwelling=lb, why=why), label)
    return subject, "\n".join(lines) + "\n", short
