"""The alarm page's view model (`/alarms/{id}`): the alarm's card, its whole timeline,
the signals around it and the last hour of readings. Pure: the route loads, this
formats; whatever cannot be formatted is one placeholder row, never the page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from alerts.handling import Call, ScriptStep, action_label
from alerts.model import CONTACT_ACTIONS, HandlingAction, Outcome, TimelineEntry
from alerts.present import moment
from alerts.texts import ROLE_LABELS
from hub.api.overview import AroundAlarm
from hub.console.dwelling_view import EventRow, VitalView, event_row, vital_view
from hub.console.present import AlarmView, RenderFailures, guarded
from hub.console.resident_view import ResidentPanel
from hub.console.texts import UI
from hub.console.texts_alarm import TIMELINE_LABELS

# Timeline steps that went wrong, and those that closed the alarm (the row's colour).
_FAILED = frozenset(
    {
        "failed",
        "unknown",
        "centre_retrying",
        "centre_failed",
        "all_clear_failed",
        "all_clear_unknown",
    }
)
_DONE = frozenset({"resolved", "closed", "cancelled"})
_ACTIONS = frozenset(a.value for a in HandlingAction)
_OUTCOMES = frozenset(o.value for o in Outcome)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    ts: float
    when: str
    what: str
    known: bool  # False: a step this console has no text for, shown as sent
    by: str
    note: str
    tone: str  # fail, done, info


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class StepView:
    key: str
    text: str
    actions: tuple[Choice, ...]  # what the operator can record having done


@dataclass(frozen=True, slots=True)
class CallView:
    contact_id: str
    name: str
    role: str  # in the reader's language
    phone: str  # "" none known
    tel: str  # the tel: URI ("" none)
    step: int | None  # its place in the routing order (None: not asked by the routing)
    installer: bool


@dataclass(frozen=True, slots=True)
class Handling:
    """The operator's side of the alarm page: who holds it, the script for its kind, the
    call list in the routing order, and the closing outcomes."""

    mine: bool  # the operator looking holds the claim
    steps: tuple[StepView, ...]
    calls: tuple[CallView, ...]
    contact_actions: tuple[Choice, ...]  # per contact on the call list
    outcomes: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class AlarmPage:
    alarm: AlarmView
    handling: Handling
    timeline: tuple[TimelineRow, ...]
    related: tuple[EventRow, ...]
    readings: tuple[VitalView, ...]
    stored: bool  # False: this hub keeps no reading history
    resident: ResidentPanel | None  # None: a dwelling the registry does not know
    version: str  # changes when the live part of the page does


def tel(phone: str) -> str:
    """A tel: URI for a number as people write it ("06 1234 5678" -> "tel:0612345678")."""
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    return f"tel:{digits}" if digits.strip("+") else ""


def handling(
    steps: tuple[ScriptStep, ...], calls: list[Call], me: str, holder: str | None, lang: str
) -> Handling:
    t = UI[lang]
    roles = ROLE_LABELS[lang]

    def call(c: Call) -> CallView:
        role = t["installer"] if c.installer else roles.get(c.role, c.role)
        return CallView(
            c.contact_id, c.name, role, c.phone or "", tel(c.phone or ""), c.step, c.installer
        )

    return Handling(
        mine=bool(holder) and holder == me,
        steps=tuple(
            StepView(
                s.key,
                s.text(lang),
                tuple(
                    Choice(a.value, action_label(a, lang))
                    for a in s.actions
                    if a not in CONTACT_ACTIONS
                ),
            )
            for s in steps
        ),
        calls=tuple(call(c) for c in calls),
        contact_actions=tuple(
            Choice(a.value, action_label(a, lang)) for a in HandlingAction if a in CONTACT_ACTIONS
        ),
        outcomes=tuple(Choice(o.value, t[f"outcome_{o.value}"]) for o in Outcome),
    )


def _what(e: TimelineEntry, who: Callable[[str | None], str], lang: str) -> str | None:
    """The timeline step in words: a lifecycle step, or what the operator did (with the
    contact it was about); None for a step this console has no text for."""
    label = TIMELINE_LABELS[lang].get(e.what)
    if label is None and e.what in _ACTIONS:
        label = action_label(HandlingAction(e.what), lang)
    if label is not None and e.contact:
        label = f"{label}: {who(e.contact)}"
    return label


def _note(e: TimelineEntry, lang: str) -> str:
    """A close's note starts with its outcome code (alerts.service logs "family_help: ..."):
    shown in words."""
    if e.what not in _DONE:
        return e.note
    code, sep, rest = e.note.partition(":")
    if code in _OUTCOMES:
        said = UI[lang][f"outcome_{code}"]
        return f"{said}: {rest.strip()}" if sep and rest.strip() else said
    return e.note


def timeline_row(
    e: TimelineEntry, who: Callable[[str | None], str], lang: str, tz: str, now: float
) -> TimelineRow:
    label = _what(e, who, lang)
    return TimelineRow(
        ts=e.at,
        when=moment(e.at, tz, now, lang),
        what=label or e.what,
        known=label is not None,
        by=who(e.by),
        note=_note(e, lang),
        tone="fail" if e.what in _FAILED else "done" if e.what in _DONE else "info",
    )


def alarm_page(
    alarm: AlarmView,
    handling_view: Handling,
    timeline: list[TimelineEntry],
    around: AroundAlarm,
    who: Callable[[str | None], str],
    lang: str,
    tz: str,
    now: float,
    failures: RenderFailures,
    resident: ResidentPanel | None = None,
) -> AlarmPage:
    undisplayable = UI[lang]["undisplayable"]
    rows = tuple(
        guarded(
            failures,
            "timeline entry",
            f"{alarm.rec.id}@{e.at}",
            partial(timeline_row, e, who, lang, tz, now),
            partial(TimelineRow, e.at, "", undisplayable, False, "", "", "fail"),
        )
        for e in timeline
    )
    related = tuple(
        guarded(
            failures,
            "event",
            ev.id,
            partial(event_row, ev, lang, tz, now),
            partial(EventRow, ev.id, "", ev.ts, undisplayable, False, "info", "", (), True),
        )
        for ev in around.events
    )
    readings: list[VitalView] = []
    for s in around.vitals:
        view: VitalView | None = guarded(
            failures,
            "reading series",
            f"{s.sensor}/{s.quantity}",
            partial(vital_view, s, around.start, around.end, around.bucket_s, lang, tz),
            lambda: None,
        )
        if view is not None:
            readings.append(view)
    return AlarmPage(
        alarm=alarm,
        handling=handling_view,
        timeline=rows,
        related=related,
        readings=tuple(readings),
        stored=around.stored,
        resident=resident,
        version=f"{alarm.version}.{len(rows)}",
    )
