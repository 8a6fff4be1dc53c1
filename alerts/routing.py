"""Who hears of an alarm, and when: the routing and escalation policy (pure).

A dwelling's `Policy` lists its recipients in priority order, each with a wait (how long
the step waits for somebody to take the alarm on before the next step comes due) and
availability windows (a neighbour not at night). `schedule` turns a policy and one alarm
into its whole plan, a tuple of `DueStep`s; `due` tells a caller which of those steps to
carry out at a given moment. No I/O, no clock: times come in as arguments (UNIX seconds),
local time through the `tz` given.

The rules (issue 10, item 1):

- Severity shortcut: the personal alarm button, a fall, a long lie, or CRITICAL severity
  (NEWS2 >= 7) goes to the alarm centre (alarmmeldpunt) at once, and every recipient
  available then is told at the same moment.
- Otherwise: the recipients one after another, each when the waits of those asked before
  have passed; one not available at their turn is skipped and costs no wait. The centre
  is the last step: after the last recipient's wait, or `centre_after_s` after the alarm
  was received if that is earlier. No recipient available: the centre at once.
- Technical (kind TECHNICAL, whatever its severity): the installer at once; family only
  when the alarm comes in within `technical_family_windows` (never at night), all at
  once; no centre step and no escalation: the operators' queue (the console) handles it.

Taking an alarm on stops every step that had not yet come due (family escalation and the
centre step of a non-shortcut alarm); a shortcut's centre step is due at once, so taking
on never cancels it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Final, Literal
from zoneinfo import ZoneInfo

from sensors.contract import AlarmKind, Severity

if TYPE_CHECKING:
    from alerts.model import Contact

__all__ = [
    "ALL_DAYS",
    "DAYTIME",
    "DEFAULT_POLICY",
    "SHORTCUT_KINDS",
    "DueStep",
    "Policy",
    "Recipient",
    "Target",
    "Window",
    "default_policy",
    "due",
    "format_window",
    "handed_over_at",
    "is_shortcut",
    "parse_window",
    "schedule",
]

ALL_DAYS: Final = frozenset(range(7))
# Kinds that go to the alarm centre at once, whatever their severity.
SHORTCUT_KINDS: Final = frozenset({AlarmKind.PERSONAL, AlarmKind.FALL, AlarmKind.LONG_LIE})

# Day names as people type them: Dutch two-letter (how they are shown) and English
# three-letter abbreviations; 0 is Monday, like datetime.weekday().
_DAY_NAMES_NL: Final = ("ma", "di", "wo", "do", "vr", "za", "zo")
_DAY_NAMES_EN: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_INDEX: Final = {n: i for names in (_DAY_NAMES_NL, _DAY_NAMES_EN) for i, n in enumerate(names)}
_CLOCK: Final = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class Window:
    """When somebody is available: on `days` (0 = Monday .. 6 = Sunday), from `start` up
    to (not including) `end`, local time.

    A window whose end is not after its start crosses midnight: "22:00-07:00" on Friday
    runs from Friday 22:00 to Saturday 07:00 (the day is the start's day). start == end
    == 00:00 is the whole day.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= ALL_DAYS:
            raise ValueError(f"window days must be a non-empty subset of 0..6, not {self.days}")
        for t in (self.start, self.end):
            if t.second or t.microsecond or t.tzinfo is not None:
                raise ValueError("window times are whole minutes, local (no tzinfo)")
        if self.start == self.end and self.start != time(0, 0):
            raise ValueError("a window's start and end are equal (use 00:00-24:00 for all day)")

    def contains(self, dt: datetime) -> bool:
        """Whether the wall-clock time of `dt` (as given: convert to local time first)
        falls in this window."""
        t, day = dt.time().replace(tzinfo=None), dt.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # Crossing midnight (or the whole day: start == end == 00:00).
        return (day in self.days and t >= self.start) or (
            (day - 1) % 7 in self.days and t < self.end
        )


DAYTIME: Final = Window(ALL_DAYS, time(7, 0), time(22, 0))


def _parse_clock(text: str, *, end: bool) -> time:
    m = _CLOCK.fullmatch(text)
    if m is None:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    hour, minute = int(m.group(1)), int(m.group(2))
    if end and (hour, minute) == (24, 0):
        return time(0, 0)  # the end of the day
    if hour > 23 or minute > 59:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    return time(hour, minute)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split(","):
        ends = part.strip().split("-")
        if len(ends) > 2 or not all(e.strip() in _DAY_INDEX for e in ends):
            raise ValueError(
                f"unknown days {part.strip()!r}: use ma di wo do vr za zo (or mon..sun),"
                " a range like ma-vr, or a list like za,zo"
            )
        first, last = _DAY_INDEX[ends[0].strip()], _DAY_INDEX[ends[-1].strip()]
        # A range may wrap past Sunday: vr-ma is Friday to Monday.
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def parse_window(text: str) -> Window:
    """A window from its spec: "07:00-22:00" (every day), "ma-vr 08:00-18:00",
    "mon-fri 08:00-18:00", "za,zo 10:00-16:00", "22:00-07:00" (crosses midnight),
    "00:00-24:00" (all day). Raises ValueError saying what is wrong."""
    parts = text.split()
    if len(parts) not in (1, 2):
        raise ValueError(f"not a window {text!r}: expected '[days] HH:MM-HH:MM'")
    days = _parse_days(parts[0]) if len(parts) == 2 else ALL_DAYS
    span = parts[-1].split("-")
    if len(span) != 2 or ":" not in parts[-1]:
        raise ValueError(f"not a window {text!r}: expected '[days] HH:MM-HH:MM'")
    start, end = _parse_clock(span[0], end=False), _parse_clock(span[1], end=True)
    if start == end and start != time(0, 0):
        raise ValueError(f"window {text!r} is empty: its start and end are equal")
    return Window(days, start, end)


def _format_days(days: frozenset[int]) -> str:
    runs: list[tuple[int, int]] = []
    for d in sorted(days):
        if runs and runs[-1][1] == d - 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return ",".join(
        _DAY_NAMES_NL[a] if a == b else f"{_DAY_NAMES_NL[a]}-{_DAY_NAMES_NL[b]}" for a, b in runs
    )


def format_window(w: Window) -> str:
    """The spec of `w` as `parse_window` reads it (Dutch day names): "ma-vr 08:00-18:00"."""
    end = "24:00" if w.end == time(0, 0) else w.end.strftime("%H:%M")
    span = f"{w.start.strftime('%H:%M')}-{end}"
    return span if w.days == ALL_DAYS else f"{_format_days(w.days)} {span}"


def _available(windows: tuple[Window, ...], at: float, tz: ZoneInfo) -> bool:
    if not windows:
        return True  # no windows: always available
    local = datetime.fromtimestamp(at, tz)
    return any(w.contains(local) for w in windows)


def _check_seconds(what: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One step of the escalation: a contact, how long to wait for them to take the alarm
    on before the next step, and when they can be asked (no windows: always)."""

    contact_id: str
    wait_s: float
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if not self.contact_id:
            raise ValueError("a recipient needs a contact id")
        _check_seconds("a recipient's wait", self.wait_s)


@dataclass(frozen=True, slots=True)
class Policy:
    """A dwelling's routing policy.

    `centre_after_s`: None hands the alarm to the centre right after the last recipient's
    wait; otherwise at most this long after it was received (the centre is always the
    last step). `installer` is the contact id told of technical alarms.
    `technical_family_windows`: when family may hear of a technical alarm at all.
    """

    recipients: tuple[Recipient, ...]
    centre_after_s: float | None = None
    installer: str | None = None
    technical_family_windows: tuple[Window, ...] = (DAYTIME,)

    def __post_init__(self) -> None:
        ids = [r.contact_id for r in self.recipients]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a contact can be in a policy once: {ids}")
        if self.centre_after_s is not None:
            _check_seconds("centre_after_s", self.centre_after_s)

    @property
    def bound_s(self) -> float:
        """The latest time after received_at by which a non-technical alarm is handed to
        the centre (when nobody took it on before): every recipient available and waited
        for, capped by `centre_after_s`."""
        total = 0.0
        for r in self.recipients:
            total += r.wait_s  # same order of additions as `schedule`: never below its sums
        return total if self.centre_after_s is None else min(total, self.centre_after_s)


DEFAULT_POLICY: Final = Policy(recipients=())


def default_policy(
    contacts: Sequence[Contact], wait_s: float, installer: str | None = None
) -> Policy:
    """The policy of a dwelling nobody configured: its contacts in the order given
    (priority order), each with its own windows and `wait_s`.

    Contacts whose role is "installer" are not asked about residents' alarms; the first of
    them is the installer when none is given."""
    people = [c for c in contacts if c.role != "installer"]
    if installer is None:
        installer = next((c.id for c in contacts if c.role == "installer"), None)
    return Policy(
        recipients=tuple(Recipient(c.id, wait_s, c.windows) for c in people),
        installer=installer,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """Who a step goes to: a contact (by id), the installer (a contact id) or the centre."""

    kind: Literal["contact", "centre", "installer"]
    contact_id: str | None = None


@dataclass(frozen=True, slots=True)
class DueStep:
    """One step of an alarm's plan: tell `target` at `due_at` (UNIX seconds)."""

    index: int
    target: Target
    due_at: float
    reason: str  # short, English: why this step, for logs and the timeline


# A step before it has its index: (target, due_at, reason).
_Step = tuple[Target, float, str]


def is_shortcut(kind: AlarmKind, severity: Severity) -> bool:
    """Whether an alarm of this kind and severity goes to the centre at once."""
    return kind is not AlarmKind.TECHNICAL and (
        kind in SHORTCUT_KINDS or severity is Severity.CRITICAL
    )


def schedule(
    policy: Policy, *, kind: AlarmKind, severity: Severity, received_at: float, tz: ZoneInfo
) -> tuple[DueStep, ...]:
    """The whole plan of one alarm: steps sorted by due time, indexes 0.. in that order."""
    steps: list[_Step] = []
    if kind is AlarmKind.TECHNICAL:
        steps.extend(_technical(policy, received_at, tz))
    elif is_shortcut(kind, severity):
        why = f"{kind.value} alarm" if kind in SHORTCUT_KINDS else f"{severity.value} severity"
        steps.append((Target("centre"), received_at, f"shortcut: {why}, centre at once"))
        steps.extend(
            (Target("contact", r.contact_id), received_at, f"shortcut: {why}, told in parallel")
            for r in policy.recipients
            if _available(r.windows, received_at, tz)
        )
    else:
        steps.extend(_escalation(policy, received_at, tz))
    # sorted() is stable: at equal times the order above holds (the centre last in an
    # escalation, first in a shortcut).
    ordered = sorted(steps, key=lambda s: s[1])
    return tuple(DueStep(i, t, at, why) for i, (t, at, why) in enumerate(ordered))


def _escalation(policy: Policy, received_at: float, tz: ZoneInfo) -> list[_Step]:
    cap = policy.centre_after_s
    steps: list[_Step] = []
    offset = 0.0  # the waits of the recipients asked so far
    previous: str | None = None
    for r in policy.recipients:
        if cap is not None and offset > cap:
            break  # the centre's time came first: it takes over
        at = received_at + offset
        if not _available(r.windows, at, tz):
            continue  # skipped: costs no wait
        why = "first available contact" if previous is None else f"{previous} did not take it on"
        steps.append((Target("contact", r.contact_id), at, why))
        offset += r.wait_s
        previous = r.contact_id
    if previous is None:
        why = "no contact available: centre at once"
        centre = 0.0
    elif cap is not None and cap < offset:
        why, centre = f"not taken on within {cap:g} s", cap
    else:
        why, centre = "no contact took it on", offset
    steps.append((Target("centre"), received_at + centre, why))
    return steps


def _technical(policy: Policy, received_at: float, tz: ZoneInfo) -> list[_Step]:
    steps: list[_Step] = []
    if policy.installer is not None:
        steps.append((Target("installer", policy.installer), received_at, "technical: installer"))
    # Family only in the daytime windows (never at night), and only if they are available.
    if policy.technical_family_windows and _available(
        policy.technical_family_windows, received_at, tz
    ):
        steps.extend(
            (Target("contact", r.contact_id), received_at, "technical: family in the daytime")
            for r in policy.recipients
            if r.contact_id != policy.installer and _available(r.windows, received_at, tz)
        )
    return steps


def may_tell(policy: Policy, contact_id: str, kind: AlarmKind, at: float, tz: ZoneInfo) -> bool:
    """Whether a message about an alarm of `kind` may reach this contact at `at` (an
    all-clear): inside the contact's own windows, and, for a technical alarm and anyone
    but the installer, inside the policy's technical family windows; never at night when
    they would not be asked then."""
    if contact_id == policy.installer:
        return True
    windows = next((r.windows for r in policy.recipients if r.contact_id == contact_id), ())
    if not _available(windows, at, tz):
        return False
    return kind is not AlarmKind.TECHNICAL or _available(policy.technical_family_windows, at, tz)


def due(
    plan: tuple[DueStep, ...], *, now: float, taken_on_at: float | None, done: set[int]
) -> tuple[DueStep, ...]:
    """The steps of `plan` to carry out now: due by `now`, not in `done`, and, once the
    alarm was taken on, only those that had come due by then (taking on stops the rest).

    A step due at the very moment of taking on still counts as come due: a shortcut's
    centre step (due at received_at) is never cancelled by a person taking the alarm on."""
    return tuple(
        s
        for s in plan
        if s.due_at <= now
        and s.index not in done
        and (taken_on_at is None or s.due_at <= taken_on_at)
    )


def handed_over_at(plan: tuple[DueStep, ...]) -> float | None:
    """When the plan hands the alarm to the centre (None: it never does)."""
    return next((s.due_at for s in plan if s.target.kind == "centre"), None)
