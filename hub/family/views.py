"""The family page as the mantelzorger reads it: pure view models in their language and
time zone. No I/O.

Each alarm card and history row is built on its own: one record that cannot be formatted
becomes a placeholder (with its buttons: an alarm must still be taken on), never a page
that does not load.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from alerts.model import AlarmRecord, AlarmState, Contact, Outcome, Response
from alerts.present import duration, person_label
from alerts.texts import SEVERITY_LABELS, UNDISPLAYABLE, kind_label, local_datetime
from hub.family.status import LOOKBACK_S, ResidentStatus
from hub.family.texts import TEXTS

log = logging.getLogger(__name__)

T = TypeVar("T")

SEVERITY_RANK: Final = {"critical": 3, "high": 2, "medium": 1, "low": 0}
HISTORY_DAYS: Final = 30


def when(ts: float | None, tz: str, now: float, lang: str) -> str:
    """'14:02' today, 'gisteren 14:02', '24-11 14:02' this year, else with the year."""
    if ts is None:
        return ""
    local = local_datetime(ts, tz)
    today = local_datetime(now, tz)
    if local is None or today is None:
        return UNDISPLAYABLE[lang]
    hm = local.strftime("%H:%M")
    days = (today.date() - local.date()).days
    if days == 0:
        return hm
    if days == 1:
        return f"{TEXTS[lang]['yesterday']} {hm}"
    if local.year == today.year:
        return f"{local.strftime('%d-%m')} {hm}"
    return f"{local.strftime('%d-%m-%Y')} {hm}"


def _clock(minutes: float) -> str:
    m = round(minutes) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def _version(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# -- status at a glance -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusView:
    headline: str  # ok, alarm, offline (the colour)
    title: str
    sub: str
    activity: str  # active, quiet, unknown, offline
    activity_label: str
    activity_sub: str
    night: str  # "" or "it is night-time by the routine (22:45-07:15)"
    last_seen: str
    online: bool
    connection: str
    version: str


def status_view(s: ResidentStatus, lang: str, tz: str, now: float) -> StatusView:
    t = TEXTS[lang]
    if s.headline == "alarm":
        title = (
            t["headline_alarm"]
            if s.open_alarms == 1
            else t["headline_alarms"].format(n=s.open_alarms)
        )
        sub = t["headline_alarm_sub"]
    elif s.headline == "offline":
        title, sub = t["headline_offline"], t["headline_offline_sub"]
    else:
        title, sub = t["headline_ok"], t["headline_ok_sub"]
    last = when(s.last_activity, tz, now, lang)
    if s.activity == "active":
        label, activity_sub = t["activity_active"], t["activity_active_sub"].format(when=last)
    elif s.activity == "quiet":
        label = t["activity_quiet"]
        if s.last_activity is not None:
            ago = duration(60 * round((now - s.last_activity) / 60), lang)
            activity_sub = t["activity_quiet_sub"].format(when=last, ago=ago)
        else:
            activity_sub = t["activity_quiet_none"].format(window=duration(LOOKBACK_S, lang))
    elif s.activity == "unknown":
        label, activity_sub = t["activity_unknown"], t["activity_unknown_sub"]
    else:
        label, activity_sub = t["activity_unknown"], t["activity_offline_sub"]
    night = ""
    if s.night is not None and s.activity == "quiet":
        night = t["activity_night"].format(
            start=_clock(s.night.start_min), end=_clock(s.night.end_min)
        )
    if s.online:
        connection = t["connection_online"]
    elif s.ever_seen and s.online_since is not None:
        connection = t["connection_offline"].format(when=when(s.online_since, tz, now, lang))
    else:
        connection = t["connection_never"]
    values = (s.headline, title, sub, s.activity, label, activity_sub, night, last, connection)
    return StatusView(
        headline=s.headline,
        title=title,
        sub=sub,
        activity=s.activity,
        activity_label=label,
        activity_sub=activity_sub,
        night=night,
        last_seen=last or t["last_seen_never"],
        online=s.online,
        connection=connection,
        version=_version(*values),
    )


# -- open alarms ----------------------------------------------------------------------------


def actions(rec: AlarmRecord) -> tuple[str, ...]:
    """The steps a mantelzorger can still take on this alarm, in order (as on the
    acknowledgement page)."""
    if rec.state is AlarmState.RESOLVED or rec.response is Response.CLOSED:
        return ()
    if rec.response is Response.ARRIVED:
        return ("closed",)
    if rec.response is Response.ON_MY_WAY:
        return ("arrived", "closed")
    return ("on_my_way", "arrived")


@dataclass(frozen=True, slots=True)
class AlarmCard:
    id: str
    severity: str  # the code, for the colour
    severity_label: str
    kind: str
    raised: str
    status: str
    centre: bool  # the alarm centre holds it too
    mine: bool  # this contact took it on
    actions: tuple[str, ...]
    broken: bool
    version: str


def _responder(
    rec: AlarmRecord, me: Contact, contacts: Mapping[str, Contact], lang: str
) -> str | None:
    """Who took the alarm on, named in `lang`: None for this contact themselves."""
    if rec.responder == me.id:
        return None
    other = contacts.get(rec.responder or "")
    if other is not None:
        return person_label(other.name, other.role, lang)
    return rec.acknowledged_by or "?"


def _status_line(
    rec: AlarmRecord, me: Contact, contacts: Mapping[str, Contact], lang: str, tz: str, now: float
) -> str:
    t = TEXTS[lang]
    since = when(rec.acknowledged_at, tz, now, lang)
    if rec.response is not None:
        who = _responder(rec, me, contacts, lang)
        step = {
            Response.ON_MY_WAY: "on_my_way",
            Response.ARRIVED: "arrived",
            Response.CLOSED: "closed",
        }[rec.response]
        if who is None:
            return t[f"you_{step}"].format(when=since)
        return t[f"other_{step}"].format(by=who, when=since)
    if rec.state is AlarmState.ACKNOWLEDGED:
        return t["centre_took"].format(when=since)
    return t["nobody_yet"]


def alarm_card(
    rec: AlarmRecord, me: Contact, contacts: Mapping[str, Contact], lang: str, tz: str, now: float
) -> AlarmCard:
    def make() -> AlarmCard:
        severity = rec.severity.value
        kind = kind_label(rec, lang)
        raised = TEXTS[lang]["raised_at"].format(when=when(rec.raised_at, tz, now, lang))
        status = _status_line(rec, me, contacts, lang, tz, now)
        acts = actions(rec)
        centre = rec.centre_required
        return AlarmCard(
            id=rec.id,
            severity=severity,
            severity_label=SEVERITY_LABELS[lang][rec.severity],
            kind=kind,
            raised=raised,
            status=status,
            centre=centre,
            mine=rec.responder == me.id,
            actions=acts,
            broken=False,
            version=_version(rec.id, severity, kind, raised, status, centre, acts),
        )

    def placeholder() -> AlarmCard:
        rid = str(getattr(rec, "id", "?"))[:64]
        try:
            acts = actions(rec)
        except Exception:
            acts = ("on_my_way", "arrived")
        return AlarmCard(
            rid,
            "unknown",
            "",
            TEXTS[lang]["undisplayable"].format(id=rid),
            "",
            "",
            False,
            False,
            acts,
            True,
            _version(rid, "broken", acts),
        )

    return _guarded(make, placeholder, rec)


def alarm_order(alarms: list[AlarmRecord]) -> list[AlarmRecord]:
    """Most severe first, then the oldest (the one waiting longest)."""
    return sorted(alarms, key=lambda a: (-SEVERITY_RANK.get(a.severity.value, 1), a.received_at))


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str
    when: str
    kind: str
    severity: str
    severity_label: str
    taken: str  # "" or "aangenomen door ..."
    end: str  # "nog open", "afloop: loos alarm", "geannuleerd in de woning", ...
    open: bool
    broken: bool = False


def history_row(
    rec: AlarmRecord, me: Contact, contacts: Mapping[str, Contact], lang: str, tz: str, now: float
) -> HistoryRow:
    t = TEXTS[lang]

    def make() -> HistoryRow:
        taken = ""
        if rec.responder is not None or rec.acknowledged_by is not None:
            if rec.responder == me.id:
                who = t["history_you"]
            elif rec.responder is not None:
                who = _responder(rec, me, contacts, lang) or "?"
            else:
                who = t["history_centre"]  # an operator: the page does not name them
            taken = t["history_taken_by"].format(by=who)
        is_open = rec.state is not AlarmState.RESOLVED
        if is_open:
            end = t["history_open"]
        elif rec.outcome is not None:
            end = t["history_outcome"].format(outcome=outcome_label(rec.outcome, lang))
        elif rec.resolved_by == "edge":
            end = t["history_cancelled"]
        elif rec.resolved_by == "hub":
            end = t["history_cleared"]
        else:
            end = t["history_closed_by_centre"]
        return HistoryRow(
            rec.id,
            when(rec.raised_at, tz, now, lang),
            kind_label(rec, lang),
            rec.severity.value,
            SEVERITY_LABELS[lang][rec.severity],
            taken,
            end,
            is_open,
        )

    def placeholder() -> HistoryRow:
        rid = str(getattr(rec, "id", "?"))[:64]
        return HistoryRow(
            rid, "", t["undisplayable"].format(id=rid), "unknown", "", "", "", False, True
        )

    return _guarded(make, placeholder, rec)


OUTCOME_LABELS: Final[dict[str, dict[Outcome, str]]] = {
    "nl": {
        Outcome.FALSE_ALARM: "loos alarm",
        Outcome.FAMILY_HELP: "geholpen door familie of buren",
        Outcome.CARE_PROVIDER: "zorgverlener gestuurd",
        Outcome.AMBULANCE: "ambulance",
        Outcome.OTHER: "anders",
    },
    "en": {
        Outcome.FALSE_ALARM: "false alarm",
        Outcome.FAMILY_HELP: "helped by family or neighbours",
        Outcome.CARE_PROVIDER: "care provider sent",
        Outcome.AMBULANCE: "ambulance",
        Outcome.OTHER: "other",
    },
}


def outcome_label(outcome: Outcome, lang: str) -> str:
    return OUTCOME_LABELS[lang][outcome]


def outcome_choices(lang: str) -> list[tuple[str, str]]:
    """(value, label) in the order people pick them; capitalised for the select."""
    return [(o.value, OUTCOME_LABELS[lang][o].capitalize()) for o in Outcome]


def _guarded(make: Callable[[], T], placeholder: Callable[[], T], rec: object) -> T:
    try:
        return make()
    except Exception:  # one alarm must never take the mantelzorger's page down
        log.warning(
            "alarm %s cannot be shown on the family page", getattr(rec, "id", "?"), exc_info=True
        )
        return placeholder()
