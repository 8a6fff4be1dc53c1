"""When the daily summary goes: a local time of day, every day. Pure."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

_TIME: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_time(text: str) -> time:
    """'08:00' -> 08:00; ValueError for anything else (24-hour HH:MM)."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not a time of day (HH:MM, 24-hour): {text!r}")
    return time(int(found.group(1)), int(found.group(2)))


def todays_moment(now: float, at: time, tz: str) -> tuple[str, float]:
    """The local date of `now` (YYYY-MM-DD) and that day's moment `at` (UNIX s). On the
    day the clocks go forward, a time that does not exist is read as after the change."""
    zone = ZoneInfo(tz)
    today = datetime.fromtimestamp(now, zone).date()
    return today.isoformat(), datetime.combine(today, at, tzinfo=zone).timestamp()


def next_moment(now: float, at: time, tz: str) -> float:
    """The first moment `at` (local) after `now`."""
    _, moment = todays_moment(now, at, tz)
    if moment > now:
        return moment
    zone = ZoneInfo(tz)
    tomorrow = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, at, tzinfo=zone).timestamp()
