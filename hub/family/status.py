"""The resident's status at a glance, from what the hub knows: presence (is the dwelling
connected), the last movement its sensors reported, the learned routine's night, and the
open alarms.

What the hub can and cannot tell (docs/family.md): it sees readings, not people. A motion
sensor's 1, a door or window opening, or a worn wearable's movement is *activity*; no
activity for a while is *quiet*. Whether a quiet resident is asleep, resting in a chair or
out of the house, the hub cannot say (it does not know which sensor is the bed's, and a
door opening does not say who went which way), so the page says "rustig", and at night
adds that it is night-time by the resident's learned routine. Without motion sensors
(a pendant and a health band only) the page says it cannot be seen.

`resident_status` is pure; `load_activity` reads the time-series store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from alerts.texts import local_datetime
from hub.api.overview import ROUTINE_KIND, RoutineProfile, routine_profile
from hub.context import DwellingHealth
from hub.storage.base import TimeSeriesStore

# What counts as activity: the quantity and the value from which it does. Binary BTHome
# sensors say 1 (motion seen, door or window open); the wearable's `activity` is the RMS of
# |a| - 1 g over each second: still, worn, ~0.01 g; walking 0.1-0.3 g.
ACTIVITY_THRESHOLDS: Final[dict[str, float]] = {
    "motion": 1.0,
    "opening": 1.0,
    "door": 1.0,
    "window": 1.0,
    "activity": 0.05,
}
ACTIVE_S: Final = 15 * 60.0  # activity within this: "actief"
LOOKBACK_S: Final = 12 * 3600.0  # the last activity is looked for this far back
CLOCK_SLACK_S: Final = 600.0  # sources' clocks may run a little ahead of the hub's

Activity = Literal["active", "quiet", "unknown", "offline"]
Headline = Literal["ok", "alarm", "offline"]


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    """What the store says about movement in the dwelling."""

    sensed: bool  # the dwelling has sensors whose readings say activity
    last: float | None  # the newest activity within LOOKBACK_S (hub-side UNIX s)


@dataclass(frozen=True, slots=True)
class Night:
    """The resident's night by their learned routine, minutes after local midnight."""

    start_min: float
    end_min: float


@dataclass(frozen=True, slots=True)
class ResidentStatus:
    headline: Headline
    open_alarms: int
    activity: Activity
    last_activity: float | None
    night: Night | None  # set when it is night-time now by the learned routine
    online: bool
    online_since: float | None  # when the connection last changed
    ever_seen: bool


def night_of(routine: RoutineProfile | None) -> Night | None:
    """The learned night, if the routine is learned and has one."""
    if routine is None or not routine.learned:
        return None
    start, end = routine.night_start_min, routine.night_end_min
    if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)):
        return None
    return Night(start, end)


def in_night(night: Night, now: float, tz: str) -> bool:
    local = local_datetime(now, tz)
    if local is None:
        return False
    minute = local.hour * 60 + local.minute + local.second / 60
    start, end = night.start_min % 1440, night.end_min % 1440
    if start == end:
        return False
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # across midnight (22:45-07:15)


def resident_status(
    health: DwellingHealth | None,
    facts: ActivityFacts,
    routine: RoutineProfile | None,
    open_alarms: int,
    now: float,
    tz: str,
) -> ResidentStatus:
    online = health is not None and health.online
    if open_alarms:
        headline: Headline = "alarm"
    elif not online:
        headline = "offline"
    else:
        headline = "ok"
    activity: Activity
    if not online:
        activity = "offline"
    elif not facts.sensed:
        activity = "unknown"
    elif facts.last is not None and now - facts.last <= ACTIVE_S:
        activity = "active"
    else:
        activity = "quiet"
    night = night_of(routine)
    return ResidentStatus(
        headline=headline,
        open_alarms=open_alarms,
        activity=activity,
        last_activity=facts.last,
        night=night if night is not None and in_night(night, now, tz) else None,
        online=online,
        online_since=health.since if health is not None else None,
        ever_seen=health is not None and health.last_seen is not None,
    )


async def load_activity(
    store: TimeSeriesStore | None, dwelling: str, now: float, lookback_s: float = LOOKBACK_S
) -> ActivityFacts:
    """Bounded: per sensor and activity quantity, one index seek for its newest reading
    and, when that one is no activity, one backwards scan to the last that was."""
    if store is None:
        return ActivityFacts(False, None)
    end = now + CLOCK_SLACK_S
    sensed = False
    last: float | None = None
    for sensor in await store.sensors(dwelling):
        for quantity, threshold in ACTIVITY_THRESHOLDS.items():
            newest = await store.last(dwelling, sensor, quantity, end)
            if newest is None:
                continue
            sensed = True
            if newest.value >= threshold:
                t: float | None = newest.t
            else:
                hit = await store.last_at_least(
                    dwelling, sensor, quantity, threshold, now - lookback_s, end
                )
                t = hit.t if hit is not None else None
            if t is not None and t >= now - lookback_s:
                last = max(last, t) if last is not None else t
    # A source clock ahead of the hub's must not put the last movement in the future.
    return ActivityFacts(sensed, min(last, now) if last is not None else None)


async def load_routine(
    store: TimeSeriesStore | None, dwelling: str, now: float
) -> RoutineProfile | None:
    """The newest learned routine the edge copied to the hub (one indexed read)."""
    if store is None:
        return None
    found = await store.events(dwelling, 0.0, now + 86400.0, 1, kinds=(ROUTINE_KIND,))
    if not found:
        return None
    try:
        return routine_profile(found[0])
    except Exception:  # a stored event must not take the page down (overview._read)
        return None
