"""The alarm page's view model (`/alarms/{id}`): the alarm's card, its whole timeline,
the signals around it and the last hour of readings. Pure: the route loads, this
formats; whatever cannot be formatted is one placeholder row, never the page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from alerts.model import TimelineEntry
from alerts.present import moment
from hub.api.overview import AroundAlarm
from hub.console.dwelling_view import EventRow, VitalView, event_row, vital_view
from hub.console.present import AlarmView, RenderFailures, guarded
from hub.console.texts import UI
from hub.console.texts_alarm import TIMELINE_LABELS

# Timeline steps that went wrong, and those that closed the alarm (the row's colour).
_FAILED = frozenset({"failed", "unknown", "centre_retrying", "centre_failed"})
_DONE = frozenset({"resolved", "closed", "cancelled"})


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
class AlarmPage:
    alarm: AlarmView
    timeline: tuple[TimelineRow, ...]
    related: tuple[EventRow, ...]
    readings: tuple[VitalView, ...]
    stored: bool  # False: this hub keeps no reading history
    version: str  # changes when the live part of the page does


def timeline_row(
    e: TimelineEntry, who: Callable[[str | None], str], lang: str, tz: str, now: float
) -> TimelineRow:
    label = TIMELINE_LABELS[lang].get(e.what)
    return TimelineRow(
        ts=e.at,
        when=moment(e.at, tz, now, lang),
        what=label or e.what,
        known=label is not None,
        by=who(e.by),
        note=e.note,
        tone="fail" if e.what in _FAILED else "done" if e.what in _DONE else "info",
    )


def alarm_page(
    alarm: AlarmView,
    timeline: list[TimelineEntry],
    around: AroundAlarm,
    who: Callable[[str | None], str],
    lang: str,
    tz: str,
    now: float,
    failures: RenderFailures,
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
        timeline=rows,
        related=related,
        readings=tuple(readings),
        stored=around.stored,
        version=f"{alarm.version}.{len(rows)}",
    )
