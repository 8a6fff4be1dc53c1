"""Edge alarm policy for falls (pure; time comes in as arguments).

Turns the fall detector's events and the pendant's cancel button into decisions:

* a ``fall_confirmed`` opens a *cancel window* (default 30 s). The button or the
  detector's ``fall_cancelled`` (the person got up) within it ends the incident with a
  ``cancel`` decision and nothing is raised.
* when the window runs out: ``raise_fall_alarm``.
* no recovery within `long_lie_s` of the impact (default 5 min): ``raise_long_lie``, a
  higher severity (the person could not get up; the alarm centre should act now).
* after the alarm is raised, the button still cancels it (``cancel``, reason ``button``:
  the resident says they are fine, as with any social-alarm pendant); getting up only
  stops the long-lie escalation (``recovered``) - a raised fall alarm is not withdrawn
  silently, a person who fell should still be checked on.
* an ``impact_suspected`` (a hard peak, then a changed posture) stays a *suspicion* until
  the detector settles it (``fall_confirmed`` or ``impact_dismissed``; with samples
  flowing that is 5 s after the impact). If the wearable goes silent first, the detector
  cannot settle it; after `silent_after_impact_s` (default 60 s) without a sample,
  ``raise_fall_alarm`` with reason ``silent_after_impact``: a fall can break a wearable,
  knock its battery out or take it out of radio range. If the wearable comes back, the
  detector settles the impact by the posture it sees then; a fall confirmed late for an
  impact already alarmed this way joins that alarm (long-lie timer, recovery), and a
  dismissal only ends the incident (the raised alarm stays). A long press during the
  suspicion is "ik ben oke" for that impact.

Why 5 minutes: the clinical "long lie" (>= 1 h on the floor) is what causes harm
(pressure injury, rhabdomyolysis, hypothermia), so escalation must come long before it;
people who can get up unaided mostly do so within a minute or two, while the mantelzorger
gets the plain fall alarm at 30 s. Five minutes without getting up is then a strong sign
that help is needed and still leaves the alarm centre ample margin before harm sets in.
Configurable per dwelling.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from edge.detectors.fall.events import FallEvent, FallEventKind

logger = logging.getLogger(__name__)


#: The shortest `silent_after_impact_s`: longer than the detector's own wait for a
#: silent window (post_s 5 s + partial_wait_s 3 s + the agent's link grace).
MIN_SILENT_S = 10.0


class DecisionKind(StrEnum):
    RAISE_FALL_ALARM = "raise_fall_alarm"
    RAISE_LONG_LIE = "raise_long_lie"
    CANCEL = "cancel"
    RECOVERED = "recovered"  # got up after the alarm: long-lie escalation stopped


class Severity(StrEnum):
    INFO = "info"
    HIGH = "high"  # fall alarm: mantelzorger first, escalation by the hub's timers
    CRITICAL = "critical"  # long lie: alarm centre at once


@dataclass(frozen=True, slots=True)
class FallAlarmConfig:
    cancel_window_s: float = 30.0  # time the resident has to cancel before the alarm goes
    long_lie_s: float = 300.0  # no recovery this long after the impact: long lie
    # an impact, then the wearable silent this long before its aftermath was seen: alarm
    # (0: never)
    silent_after_impact_s: float = 60.0
    # After the incident's last alarm (long lie, up again after the alarm, a silent
    # alarm), this long a long press still means "ik ben oke" for it; then the pendant's
    # long press is an ordinary call again.
    incident_hold_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.cancel_window_s < 0 or self.long_lie_s < self.cancel_window_s:
            raise ValueError("need 0 <= cancel_window_s <= long_lie_s")
        if self.silent_after_impact_s != 0 and self.silent_after_impact_s < MIN_SILENT_S:
            raise ValueError(f"need silent_after_impact_s = 0 (off) or >= {MIN_SILENT_S:g}")


@dataclass(frozen=True, slots=True)
class AlarmDecision:
    kind: DecisionKind
    time: float  # s, the time the decision takes effect (same clock as the detector)
    impact_time: float  # s, the impact of the incident
    severity: Severity
    reason: str  # "cancel_window_elapsed", "silent_after_impact", "button", "got_up", ...
    peak_g: float


class _State(StrEnum):
    IDLE = "idle"
    PENDING = "pending"  # confirmed, cancel window running
    ALARMED = "alarmed"  # fall alarm raised, long-lie timer running
    # long lie raised, got up after the alarm, or a silent alarm: the button, the next
    # fall or `incident_hold_s` ends it
    DONE = "done"


@dataclass
class FallAlarmPolicy:
    """One per wearer. Feed `on_events`, `heard` (the latest sample time),
    `cancel_pressed` and `advance` in time order."""

    config: FallAlarmConfig = field(default_factory=FallAlarmConfig)

    def __post_init__(self) -> None:
        self._state = _State.IDLE
        self._impact = 0.0
        self._confirmed_at = 0.0
        self._peak = 0.0
        self._heard = -math.inf  # time of the wearable's latest sample
        # (impact time, peak g) of an impact_suspected the detector has not settled yet
        self._suspect: tuple[float, float] | None = None
        self._silent_alarm: tuple[float, float] | None = None  # (impact, alarm time)
        self._ok_impact: float | None = None  # the resident said "ik ben oke" to it
        self._done_at = 0.0  # when the state became DONE

    @property
    def suspecting(self) -> bool:
        """An impact is suspected and not settled yet: a long press means "ik ben oke"."""
        return self._suspect is not None

    @property
    def state(self) -> str:
        return self._state.value

    def on_events(self, events: Iterable[FallEvent]) -> list[AlarmDecision]:
        out: list[AlarmDecision] = []
        for ev in events:
            out.extend(self.advance(ev.time))
            if ev.kind is FallEventKind.IMPACT_SUSPECTED:
                if self._state is not _State.PENDING and self._state is not _State.ALARMED:
                    self._suspect = (ev.impact_time, ev.peak_g)
            elif ev.kind is FallEventKind.IMPACT_DISMISSED:
                if self._suspect is not None and self._suspect[0] == ev.impact_time:
                    self._suspect = None
                silent_at = self._silent_alarm_at(ev.impact_time)
                if silent_at is not None and self._state is _State.DONE:
                    self._state = _State.IDLE  # up again: the raised alarm stays
            elif ev.kind is FallEventKind.FALL_CONFIRMED:
                self._suspect = None  # settled: the incident takes its normal course
                if ev.impact_time == self._ok_impact:
                    continue  # the resident already said "ik ben oke" to this impact
                silent_at = self._silent_alarm_at(ev.impact_time)
                if silent_at is not None:
                    if self._state is _State.DONE:  # the alarm is out: join it
                        self._state = _State.ALARMED
                        self._impact = ev.impact_time
                        self._confirmed_at = silent_at - self.config.cancel_window_s
                        out.extend(self.advance(ev.time))
                    continue
                if self._state in (_State.IDLE, _State.DONE):
                    self._state = _State.PENDING
                    self._impact = ev.impact_time
                    self._confirmed_at = ev.time
                    self._peak = ev.peak_g
                    # The window may already be over if events arrive late.
                    out.extend(self.advance(ev.time))
                # else: same incident still open (a second impact while on the floor).
            elif ev.kind is FallEventKind.FALL_CANCELLED:
                out.extend(self._got_up(ev.time))
        return out

    def heard(self, t: float) -> None:
        """The wearable delivered samples up to `t` (s)."""
        if t > self._heard:
            self._heard = t

    def _silent_alarm_at(self, impact: float) -> float | None:
        """When the silent-after-impact alarm for `impact` went out (None: it did not)."""
        s = self._silent_alarm
        return s[1] if s is not None and s[0] == impact else None

    def cancel_pressed(self, t: float) -> list[AlarmDecision]:
        """The pendant's cancel button was pressed at `t` (s)."""
        out = self.advance(t)
        if self._state is _State.IDLE and self._suspect is not None:
            # "Ik ben oke" right after a suspected impact: not a fall for this resident.
            self._impact, self._peak = self._suspect
            self._ok_impact, self._suspect = self._suspect[0], None
            out.append(self._decision(DecisionKind.CANCEL, t, Severity.INFO, "button"))
        elif self._state is not _State.IDLE:
            # Before the alarm: nothing is raised. After it: the resident says they are
            # fine, which withdraws the raised fall / long-lie alarm.
            out.append(self._decision(DecisionKind.CANCEL, t, Severity.INFO, "button"))
            self._state = _State.IDLE
            if self._suspect is not None:
                self._ok_impact, self._suspect = self._suspect[0], None
        return out

    def advance(self, t: float) -> list[AlarmDecision]:
        """Let time pass to `t` (s): raises the alarms whose timers ran out."""
        out: list[AlarmDecision] = []
        c = self.config
        if self._state is _State.PENDING and t >= self._confirmed_at + c.cancel_window_s:
            when = self._confirmed_at + c.cancel_window_s
            out.append(
                self._decision(
                    DecisionKind.RAISE_FALL_ALARM, when, Severity.HIGH, "cancel_window_elapsed"
                )
            )
            self._state = _State.ALARMED
        if self._state is _State.ALARMED and t >= self._impact + c.long_lie_s:
            when = max(self._impact + c.long_lie_s, self._confirmed_at + c.cancel_window_s)
            out.append(
                self._decision(DecisionKind.RAISE_LONG_LIE, when, Severity.CRITICAL, "no_recovery")
            )
            self._done(when)
        silent = c.silent_after_impact_s
        if self._suspect is not None and silent > 0:
            since = max(self._heard, self._suspect[0])
            if t >= since + silent:
                self._impact, self._peak = self._suspect
                self._suspect = None
                self._silent_alarm = (self._impact, since + silent)
                out.append(
                    self._decision(
                        DecisionKind.RAISE_FALL_ALARM,
                        since + silent,
                        Severity.HIGH,
                        "silent_after_impact",
                    )
                )
                # No data: getting up cannot be seen, so no long-lie timer; the detector
                # settles the impact if the wearable comes back.
                self._done(since + silent)
        if self._state is _State.DONE and t >= self._done_at + c.incident_hold_s:
            self._state = _State.IDLE  # the raised alarms stay with the people handling them
        return out

    def _done(self, t: float) -> None:
        self._state = _State.DONE
        self._done_at = t

    # ------------------------------------------------------------------ internals
    def _got_up(self, t: float) -> list[AlarmDecision]:
        if self._state is _State.PENDING:
            self._state = _State.IDLE
            return [self._decision(DecisionKind.CANCEL, t, Severity.INFO, "got_up")]
        if self._state is _State.ALARMED:
            self._done(t)
            return [self._decision(DecisionKind.RECOVERED, t, Severity.INFO, "got_up")]
        return []

    def _decision(
        self, kind: DecisionKind, t: float, severity: Severity, reason: str
    ) -> AlarmDecision:
        logger.info("fall alarm policy: %s at %.1f s (%s)", kind.value, t, reason)
        return AlarmDecision(kind, t, self._impact, severity, reason, self._peak)
