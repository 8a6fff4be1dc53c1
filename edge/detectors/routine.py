"""Inactivity and routine detector on ambient sensors (motion, doors, bed/chair mats).

Streaming and pure: `update(events)` with events in time order, `advance(t)` when time
passes with nothing happening (silence is what this detector watches for). Time comes
in with the events (POSIX seconds); the time of day is read in the dwelling's own time
zone, given at construction. No I/O and no clock reads.

Rules (each alarm is raised once per episode, and cancelled when the resident is seen):

- INACTIVITY: no activation for far longer than is usual at this time of day for this
  dwelling (thresholds learned per time-of-day bucket, `routine_model`), while the
  resident is at home (a front-door passage followed by nothing inside = gone out).
- NOT_UP: at home through the night and no getting-up activity (outside bedroom and
  bathroom) by the usual time plus a margin.
- OUT_OF_BED: at night, left the bed (mat empty, debounced) or the bedroom, and not back
  within N minutes with no sign of life for a while. Judged only for an exit where a
  return would be seen as it happens (an occupancy mat, or a bedroom PIR that has been
  working lately); otherwise the rule stands down for that exit and a bedroom PIR that
  has gone quiet is reported as a silent sensor. Switched off for a home where the
  learning days show that returns to bed cannot be sensed.
- NIGHT_DOOR: the front door opened at night with no sign of the resident inside
  afterwards (a late return followed by movement inside is no alarm). Night for this
  rule begins at the resident's learned sleep onset: a door before his usual bedtime is
  an evening outing, unless it follows activity in the bedroom.
- NOT_BACK: gone out (front door, then nothing inside) and not back by this resident's
  usual latest return at night (learned from his night-time outings; stands down where
  he has been out a whole night, or too few outings are known).
- AWAY: not an alarm: the away state (gone out / home again) for the console; while
  away the inactivity, not-up and out-of-bed rules hold.
- SENSOR_NOISY: technical: a sensor that activates in nearly every hour of the day on
  most learned days (while he sleeps and while he is out) is no evidence of life.
- SENSOR_SILENT / SENSOR_STUCK: technical findings, never inactivity alarms: a sensor
  that is active on most days went silent while others show the resident at home; a
  PIR or mat that stays "on" far too long (lost off-report or stuck), which is then
  ignored for occupancy.

Each routine day (noon to noon) is summarised into a `DayRecord` and added to the
dwelling's `RoutineModel` at the day boundary: the model refreshes daily.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, Literal
from zoneinfo import ZoneInfo

from edge.detectors.routine_model import (
    MINUTES_PER_DAY,
    DayRecord,
    RoutineModel,
    in_daytime,
)
from sensors.contract import AlarmKind, Severity

logger = logging.getLogger(__name__)

FRONT_ROOM: Final = "entrance"
# Getting up is activity outside the rooms a resident visits at night.
NIGHT_ROOMS: Final = frozenset({"bedroom", "bathroom"})


class SensorKind(StrEnum):
    MOTION = "motion"
    DOOR = "door"
    BED = "bed"
    CHAIR = "chair"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class AmbientEvent:
    t: float  # POSIX seconds
    sensor: str
    kind: SensorKind
    room: str
    value: int  # 1 on/open/occupied, 0 off/closed/empty


class FindingKind(StrEnum):
    INACTIVITY = "inactivity"
    NOT_UP = "not_up"
    OUT_OF_BED = "out_of_bed_night"
    NIGHT_DOOR = "night_door"
    NOT_BACK = "not_back_night"
    SENSOR_SILENT = "sensor_silent"
    SENSOR_STUCK = "sensor_stuck"
    SENSOR_NOISY = "sensor_noisy"  # fires around the clock: ignored as evidence of life
    AWAY = "away"  # a state, not an alarm: detail.state "away" (since) or "home"


RESIDENT_RULES: Final = (
    FindingKind.INACTIVITY,
    FindingKind.NOT_UP,
    FindingKind.OUT_OF_BED,
    FindingKind.NIGHT_DOOR,
    FindingKind.NOT_BACK,
)


@dataclass(frozen=True, slots=True)
class RoutineFinding:
    t: float
    kind: FindingKind
    action: Literal["raise", "cancel", "state"]  # "state": a report, never an alarm (AWAY)
    alarm_kind: AlarmKind
    severity: Severity
    sensor: str | None = None
    detail: tuple[tuple[str, float | int | str | bool], ...] = ()


@dataclass(slots=True)
class _DayAcc:
    """Accumulates the current routine day's record."""

    start: float
    end: float
    morning: date
    n_buckets: int
    activations: int = 0
    home_night: bool = False
    home_night_known: bool = False
    up_t: float | None = None
    quiet: list[float] = field(default_factory=list)
    awake_quiet: list[float] = field(default_factory=list)
    sleep_quiet: list[float] = field(default_factory=list)
    sleep_gap: float = 0.0
    sleep_start: float | None = None
    exits: list[float] = field(default_factory=list)
    unreturned: int = 0
    sensors: set[str] = field(default_factory=set)
    not_up_raised: bool = False
    night_returns: list[float] = field(default_factory=list)
    out_overnight: bool = False
    hours: dict[str, set[int]] = field(default_factory=dict)  # clock hours with activations
    sensor_quiet: dict[str, float] = field(default_factory=dict)  # T7: see DayRecord

    def __post_init__(self) -> None:
        self.quiet = [-1.0] * self.n_buckets
        self.awake_quiet = [-1.0] * self.n_buckets
        self.sleep_quiet = [-1.0] * self.n_buckets


class RoutineDetector:
    """One dwelling's inactivity/routine detector. Not thread-safe; deep-copyable."""

    def __init__(self, model: RoutineModel, tz: str, start_t: float) -> None:
        self.model = model
        self.cfg = model.config
        self.tz = ZoneInfo(tz)
        self.now = start_t
        self.events_dropped = 0
        self.last_act_t: float | None = None
        self.last_nonbed_t: float | None = None
        self.last_act_room = ""
        self.last_act_sensor = ""
        self.last_bedroom_t: float | None = None  # last activation in the bedroom
        self.away = False
        self.away_in_gap = False
        self.door_t: float | None = None  # front door passage, nothing inside since
        self.last_door_t: float | None = None
        self.away_since = start_t
        self.away_total = 0.0  # seconds spent away so far: silence counts home time only
        self.seen_away_total: dict[str, float] = {}
        self.started_t = start_t
        self.night_door_t: float | None = None
        self.inactivity_raised = False
        self.not_back_raised = False
        self.away_hits: dict[str, float] = {}
        self.noisy_reported: set[str] = set()  # sensors seen while away, not yet an arrival
        self.value: dict[str, int] = {}
        self.kind: dict[str, SensorKind] = {}
        self.room: dict[str, str] = {}
        self.on_since: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.stuck: set[str] = set()
        self.silent_raised: set[str] = set()
        self.bedroom_sensing = False  # a bed mat or bedroom PIR: returns to bed are seen
        self.on_durations: dict[str, deque[float]] = {}
        self.bed_on = False  # trusted: some mat occupied, nothing outside the bedroom since
        self.bed_zero_t: float | None = None  # all mats empty since, awaiting debounce
        self.in_bed = False
        self.exit_t: float | None = None
        self.last_up_activity_t: float | None = None
        self.exit_raised = False
        self.exit_watched = False  # a return from this exit would be seen (see _left_bed)
        self.pending: list[RoutineFinding] = []  # raised inside state changes, not yet out
        self.acc = self._new_acc(start_t)

    # ---------------------------------------------------------------- time of day
    def _local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def _minute(self, t: float) -> float:
        d = self._local(t)
        return d.hour * 60 + d.minute + (d.second + d.microsecond / 1e6) / 60

    def _at(self, day: date, minute: float) -> float:
        base = datetime.combine(day, time(0), tzinfo=self.tz).timestamp()
        return base + minute * 60.0

    def _new_acc(self, t: float) -> _DayAcc:
        local = self._local(t)
        bmin = self.cfg.day_boundary_min
        m = local.hour * 60 + local.minute
        morning = local.date() if m < bmin else local.date() + timedelta(days=1)
        start = self._at(morning - timedelta(days=1), bmin)
        end = self._at(morning, bmin)
        acc = _DayAcc(start, end, morning, MINUTES_PER_DAY // self.cfg.bucket_min)
        return acc

    # ---------------------------------------------------------------- public API
    def update(self, events: Iterable[AmbientEvent]) -> list[RoutineFinding]:
        out: list[RoutineFinding] = []
        for ev in events:
            if ev.t < self.now:
                self.events_dropped += 1
                logger.debug("out-of-order event from %s dropped", ev.sensor)
                continue
            out.extend(self.advance(ev.t))
            out.extend(self._on_event(ev))
            out.extend(self._drain())
        return out

    def advance(self, t: float) -> list[RoutineFinding]:
        out: list[RoutineFinding] = []
        for _ in range(100_000):  # bounded: each deadline fires once and moves on
            due = self._next_deadline()
            if due is None or due > t:
                break
            self.now = max(self.now, due)
            out.extend(self._fire(due))
            out.extend(self._drain())
        self.now = max(self.now, t)
        out.extend(self._technical(self.now))
        return out

    # ---------------------------------------------------------------- derived times
    def _night(self) -> tuple[float, float]:
        """Tonight: from the learned sleep onset (or the care plan's night start, if
        earlier) to the usual getting-up time. The night-door rule narrows it to the
        learned onset itself (`_night_door_applies`)."""
        th = self.model.thresholds
        plan = self.cfg.default_night_start_min - MINUTES_PER_DAY
        return (
            self._at(self.acc.morning, min(th.night_start_min, plan)),
            self._at(self.acc.morning, th.night_end_min),
        )

    def _is_night(self, t: float) -> bool:
        start, end = self._night()
        return start <= t < end

    def _up_window(self) -> float:
        return self._at(self.acc.morning, self.cfg.up_window_start_min)

    def _up_by(self) -> float:
        return self._at(self.acc.morning, self.model.thresholds.up_by_min)

    def _asleep_gap(self, p: float) -> bool:
        """Whether a silence that began at `p` began asleep: around bedtime or in the
        night, before getting up. The same test files a silence under the asleep or the
        awake thresholds when learning and when watching."""
        night_start, night_end = self._night()
        slack = self.cfg.bedtime_slack_s
        return night_start - slack <= p < night_end and self.acc.up_t is None

    def _walk(self, tau: float, last: float, quiet: tuple[float, ...]) -> float | None:
        """First moment from `tau` on that the silence since `last` exceeds the
        threshold of the time-of-day bucket it is in (walks bucket by bucket)."""
        bucket_s = self.cfg.bucket_min * 60.0
        for _ in range(3 * len(quiet)):
            m = self._minute(tau)
            b = int(m // self.cfg.bucket_min) % len(quiet)
            end = tau + (bucket_s - (m * 60.0) % bucket_s)
            cand = max(tau, last + quiet[b])
            if cand < end:
                return cand
            tau = end
        return None

    def _inactivity_due(self) -> float | None:
        """When the silence since the last activation becomes far longer than usual.

        A silence that began awake is held against the awake thresholds. One that began
        asleep (not up yet) is the not-up rule's job at the up-by time, after which the
        awake thresholds resume as a backstop; where the home has learned how long it
        is silent while asleep (a movement mat or bedroom PIR splits the night), a
        silence far longer than that alarms before the up-by time too."""
        if self.last_act_t is None or self.away or self.inactivity_raised:
            return None
        th = self.model.thresholds
        last = self.last_act_t
        tau = max(last, self.now)
        if not self._asleep_gap(last):
            due = self._walk(tau, last, th.quiet_s)
            own = self._sensor_quiet(last, asleep=False)
            if own is not None and (due is None or last + own < due):
                due = max(tau, last + own)
            return due
        due = self._walk(max(tau, self._up_by()), last, th.quiet_s)
        if th.sleep_quiet_s and self.bedroom_sensing:
            asleep = self._walk(tau, last, th.sleep_quiet_s)
            if asleep is not None and (due is None or asleep < due):
                due = asleep
        return due

    def _sensor_silence(self, p: float, asleep: bool) -> bool:
        """Whether the silence since the last activation, at `p`, is one its sensor
        answers for (trial T7): it began awake, 07:00-22:00. The same test when learning
        and when watching; `asleep` is `_asleep_gap(p)`."""
        return bool(self.last_act_sensor) and not asleep and in_daytime(self._minute(p))

    def _sensor_quiet(self, p: float, asleep: bool) -> float | None:
        """The learned threshold of the sensor the silence since `p` began with, if it is
        one its sensor answers for and that sensor has one."""
        if not self._sensor_silence(p, asleep):
            return None
        return dict(self.model.thresholds.sensor_quiet_s).get(self.last_act_sensor)

    def _exit_due(self) -> float | None:
        th = self.model.thresholds
        if (
            self.exit_t is None
            or self.exit_raised
            or not self.exit_watched
            or not self.bedroom_sensing
            or not th.out_of_bed_enabled
            or self.away
        ):
            return None
        quiet_from = self.last_act_t if self.last_act_t is not None else self.exit_t
        return max(self.exit_t + th.out_of_bed_s, quiet_from + self.cfg.out_of_bed_quiet_s)

    def _not_back_due(self) -> float | None:
        """Away past this resident's usual latest return at night (learned; None where
        the learned outings include a night away or too few are known)."""
        rb = self.model.thresholds.return_by_min
        if not self.away or self.not_back_raised or rb is None:
            return None
        due = self._at(self.acc.morning, rb)
        return due if due > self.away_since else None

    def _next_deadline(self) -> float | None:
        c: list[float] = [self.acc.end]
        if not self.acc.home_night_known:
            c.append(self._up_window())
        elif self.acc.home_night and self.acc.up_t is None and not self.acc.not_up_raised:
            c.append(self._up_by())
        if self.exit_t is not None:
            c.append(self._night()[1])
        for d in (
            self._inactivity_due(),
            self._exit_due(),
            None if self.door_t is None else self.door_t + self.cfg.away_after_door_s,
            None if self.night_door_t is None else self.night_door_t + self.cfg.night_door_s,
            None if self.bed_zero_t is None else self.bed_zero_t + self.cfg.bed_debounce_s,
            self._not_back_due(),
        ):
            if d is not None:
                c.append(d)
        return min(c)

    # ---------------------------------------------------------------- deadlines
    def _fire(self, t: float) -> list[RoutineFinding]:
        out: list[RoutineFinding] = []
        th = self.model.thresholds
        if self.bed_zero_t is not None and t >= self.bed_zero_t + self.cfg.bed_debounce_s:
            zero_t, self.bed_zero_t = self.bed_zero_t, None
            self.bed_on = False
            self._left_bed(zero_t)
        if self.door_t is not None and t >= self.door_t + self.cfg.away_after_door_s:
            # Through the front door and nothing inside since: gone out (not inactive),
            # unless a trusted mat says someone is in bed.
            self.door_t = None
            if not self.bed_on:
                self.away = True
                self.away_in_gap = True
                self.away_since = self.last_door_t if self.last_door_t is not None else t
                self.away_hits = {}
                out.append(self._away_finding(t, "away"))
        due = self._not_back_due()
        if due is not None and t >= due:
            self.not_back_raised = True
            out.append(
                self._raise(
                    t,
                    FindingKind.NOT_BACK,
                    Severity.HIGH,
                    since=self.away_since,
                    return_by_min=self.model.thresholds.return_by_min or 0.0,
                )
            )
        if self.night_door_t is not None and t >= self.night_door_t + self.cfg.night_door_s:
            out.append(
                self._raise(t, FindingKind.NIGHT_DOOR, Severity.HIGH, since=self.night_door_t)
            )
            self.night_door_t = None
        due = self._exit_due()
        if due is not None and t >= due and self.exit_t is not None:
            self.exit_raised = True
            out.append(self._raise(t, FindingKind.OUT_OF_BED, Severity.HIGH, since=self.exit_t))
        if self.exit_t is not None and t >= self._night()[1]:
            # The night is over: an exit well before the usual getting-up time that never
            # returned tells us returns are not sensed here (learned, see the model).
            if self.exit_watched and self.exit_t < self._night()[1] - 3600.0:
                self.acc.unreturned += 1
            self.exit_t = None
        acc = self.acc
        if not acc.home_night_known and t >= self._up_window():
            acc.home_night_known = True
            # Only a night this detector watched counts: an agent (re)started after the
            # up window did not see the resident at home through the night, and would
            # otherwise raise "not up" at once when started after the up-by time.
            acc.home_night = not self.away and self.started_t <= self._up_window()
        if (
            acc.home_night_known
            and acc.home_night
            and acc.up_t is None
            and not acc.not_up_raised
            and t >= self._up_by()
        ):
            acc.not_up_raised = True
            if not self.away:
                self.inactivity_raised = True  # one alarm for this silence
                out.append(
                    self._raise(t, FindingKind.NOT_UP, Severity.HIGH, up_by_min=th.up_by_min)
                )
        due = self._inactivity_due()
        if due is not None and t >= due and self.last_act_t is not None:
            self.inactivity_raised = True
            b = int(self._minute(t) // self.cfg.bucket_min) % len(th.quiet_s)
            threshold = th.quiet_s[b]
            own = self._sensor_quiet(self.last_act_t, self._asleep_gap(self.last_act_t))
            if own is not None and own < threshold:
                threshold = own
            out.append(
                self._raise(
                    t,
                    FindingKind.INACTIVITY,
                    Severity.HIGH,
                    since=self.last_act_t,
                    threshold_s=threshold,
                    learned=th.learned,
                )
            )
        if t >= self.acc.end:
            self._close_day(self.acc.end)
        return out

    def _away_finding(self, t: float, state: str) -> RoutineFinding:
        """The away state for the console: out since the departure, or home again."""
        detail: tuple[tuple[str, float | int | str | bool], ...] = (
            ("state", state),
            ("since", round(self.away_since)),
        )
        return RoutineFinding(
            t, FindingKind.AWAY, "state", AlarmKind.TECHNICAL, Severity.LOW, None, detail
        )

    def _noisy_finding(self, t: float, sensor: str) -> RoutineFinding:
        logger.info("routine sensor_noisy: %s", sensor)
        detail: tuple[tuple[str, float | int | str | bool], ...] = (
            ("reason", "active_around_the_clock"),
            ("hours_per_day_min", self.cfg.noisy_hours or 0),
        )
        return RoutineFinding(
            t, FindingKind.SENSOR_NOISY, "raise", AlarmKind.TECHNICAL, Severity.LOW, sensor, detail
        )

    def _lone_while_away(self, sensor: str, t: float) -> bool:
        """Whether an activation while away is one sensor on its own (a PIR that fires
        in an empty home) rather than the resident coming home: an arrival is the front
        door or `arrival_sensors` different sensors within `arrival_window_s`."""
        window = self.cfg.arrival_window_s
        self.away_hits = {s: x for s, x in self.away_hits.items() if t - x <= window}
        self.away_hits[sensor] = t
        return len(self.away_hits) < self.cfg.arrival_sensors

    def _note_arrival(self, t: float) -> None:
        """Learn this resident's night-time outings: the return time of one that was
        out between 20:00 and the up window (04:00), or that it lasted the night (out at
        the up window)."""
        acc = self.acc
        evening = self._at(acc.morning - timedelta(days=1), 20 * 60)
        if self.away_since < self._up_window() < t:
            acc.out_overnight = True
        elif evening < t <= self._up_window():
            acc.night_returns.append(self._signed(t))

    def _raise(
        self, t: float, kind: FindingKind, severity: Severity, **detail: float | int | str | bool
    ) -> RoutineFinding:
        alarm = AlarmKind.INACTIVITY if kind in RESIDENT_RULES else AlarmKind.TECHNICAL
        logger.info("routine %s raised", kind.value)
        return RoutineFinding(t, kind, "raise", alarm, severity, None, tuple(detail.items()))

    def _close_day(self, t: float) -> None:
        acc = self.acc
        if self.last_act_t is not None:
            self._quiet_gap(self.last_act_t, t)
            self._sleep_gap(t)
        if not acc.home_night_known:
            acc.home_night = not self.away
        if self.away and self.away_since < self._up_window():
            acc.out_overnight = True
        rec = DayRecord(
            day=acc.morning.isoformat(),
            activations=acc.activations,
            home_night=acc.home_night,
            up_min=None if acc.up_t is None else self._minute(acc.up_t),
            sleep_min=None if acc.sleep_start is None else self._signed(acc.sleep_start),
            quiet_s=tuple(acc.quiet),
            night_exits_s=tuple(acc.exits),
            night_exits_unreturned=acc.unreturned,
            sensors=tuple(sorted(acc.sensors)),
            awake_quiet_s=tuple(acc.awake_quiet),
            sleep_quiet_s=tuple(acc.sleep_quiet),
            night_returns_min=tuple(acc.night_returns),
            sensor_hours=tuple(sorted((s, len(h)) for s, h in acc.hours.items())),
            out_overnight=acc.out_overnight,
            sensor_quiet_s=tuple(sorted(acc.sensor_quiet.items())),
        )
        self.model.add_day(rec)
        self.acc = self._new_acc(t)

    def _signed(self, t: float) -> float:
        m = self._minute(t)
        return m - MINUTES_PER_DAY if m >= MINUTES_PER_DAY / 2 else m

    # ---------------------------------------------------------------- learning
    def _quiet_gap(self, p: float, t: float) -> None:
        """Record the silence in progress, per bucket, for a home gap from p to t."""
        if self.away_in_gap:
            return
        acc = self.acc
        asleep = self._asleep_gap(p)
        if self._sensor_silence(p, asleep):
            sq = acc.sensor_quiet
            sq[self.last_act_sensor] = max(sq.get(self.last_act_sensor, 0.0), t - p)
        bucket_s = self.cfg.bucket_min * 60.0
        tau = max(p, acc.start)
        while tau < t:
            m = self._minute(tau)
            b = int(m // self.cfg.bucket_min) % acc.n_buckets
            end = min(t, tau + (bucket_s - (m * 60.0) % bucket_s))
            acc.quiet[b] = max(acc.quiet[b], end - p)
            kind = acc.sleep_quiet if asleep else acc.awake_quiet
            kind[b] = max(kind[b], end - p)
            if end <= tau:  # pragma: no cover - guards a zero step on odd clocks
                break
            tau = end

    def _sleep_gap(self, t: float) -> None:
        """Sleep onset: the start of the longest gap between activations outside the
        bedroom that starts between 19:00 and 04:00 (night toilet visits split it)."""
        p = self.last_nonbed_t
        if p is None or self.away_in_gap or p < self.acc.start:
            return
        s = self._signed(p)
        if -300 <= s < 240 and t - p > max(self.acc.sleep_gap, 2 * 3600.0):
            self.acc.sleep_gap = t - p
            self.acc.sleep_start = p

    # ---------------------------------------------------------------- events
    def _on_event(self, ev: AmbientEvent) -> list[RoutineFinding]:
        out: list[RoutineFinding] = []
        t = ev.t
        self.now = t
        prev = self.value.get(ev.sensor)
        alarm_out = self.inactivity_raised or self.exit_raised or self.not_back_raised
        self.kind[ev.sensor] = ev.kind
        self.room[ev.sensor] = ev.room
        self.value[ev.sensor] = ev.value
        if ev.value == 1:
            self.on_since.setdefault(ev.sensor, t)
        else:
            since = self.on_since.pop(ev.sensor, None)
            if since is not None and ev.kind in (SensorKind.BED, SensorKind.CHAIR):
                self.on_durations.setdefault(ev.sensor, deque(maxlen=50)).append(t - since)
            if ev.sensor in self.stuck:
                self.stuck.discard(ev.sensor)
        if ev.kind is SensorKind.BED or (ev.kind is SensorKind.MOTION and ev.room == "bedroom"):
            self.bedroom_sensing = True
        if ev.kind is SensorKind.BED:
            self._bed_changed(t)
        if ev.value != 1 or prev == 1:
            return out  # a reset, or a repeated "on": no new evidence of activity
        # -- an activation: evidence that someone is active in that room now
        self.last_seen[ev.sensor] = t
        self.seen_away_total[ev.sensor] = self.away_total
        self.silent_raised.discard(ev.sensor)
        self.acc.hours.setdefault(ev.sensor, set()).add(self._local(t).hour)
        if ev.sensor in self.model.thresholds.noisy:
            if ev.sensor not in self.noisy_reported:
                self.noisy_reported.add(ev.sensor)
                out.append(self._noisy_finding(t, ev.sensor))
            return out  # fires while he sleeps and while he is out: not evidence of life
        front = ev.kind is SensorKind.DOOR and ev.room == FRONT_ROOM
        if self.away and not front and self._lone_while_away(ev.sensor, t):
            return out  # one sensor on its own while the home is empty: not the resident
        acc = self.acc
        acc.activations += 1
        acc.sensors.add(ev.sensor)
        if self.last_act_t is not None:
            self._quiet_gap(self.last_act_t, t)
        bedroom = ev.room == "bedroom"
        if not bedroom:
            self._sleep_gap(t)
            self.last_nonbed_t = t
        else:
            self.last_bedroom_t = t
        if alarm_out:
            out.append(self._cancel(t))
        self.inactivity_raised = False
        self.away_in_gap = False
        if self.away:
            self.away_total += t - self.away_since  # sensors unused while away: not silent
            self._note_arrival(t)
            self.pending.append(self._away_finding(t, "home"))
        self.not_back_raised = False
        if front:
            if self.last_door_t is not None and t - self.last_door_t < 60.0:
                pass  # the same passage (opened twice, or a bouncing contact)
            elif self.away:
                self.door_t = None  # coming home: an arrival is not a departure
            else:
                self.door_t = t  # at home before: perhaps going out
            self.last_door_t = t
            if self._night_door_applies(t) and self.night_door_t is None:
                self.night_door_t = t
            self.away = False
        else:
            # Anyone seen inside: at home, and a pending door passage was not an exit.
            self.away = False
            self.door_t = None
            self.night_door_t = None
        self.last_act_t = t
        self.last_act_room = ev.room
        self.last_act_sensor = ev.sensor
        # Getting up: activity outside bedroom and bathroom after the up window opens.
        if ev.room not in NIGHT_ROOMS and self._up_window() <= t < acc.end:
            if acc.up_t is None:
                acc.up_t = t
            self.last_up_activity_t = t
            if self._up_for_day(t):
                self.exit_t = None  # up for the day: not a night-time exit
        elif (
            ev.kind is SensorKind.BED
            and acc.up_t is not None
            and self.last_up_activity_t is not None
            and t - self.last_up_activity_t < self.cfg.up_confirm_s
        ):
            # Back in bed soon after: a drink in the kitchen at 04:45 is not getting up.
            acc.up_t = None
        self._night_state(t, bedroom)
        return out

    def _up_for_day(self, t: float) -> bool:
        """Up and about for the day: activity outside the night rooms, within an hour of
        the usual getting-up time (a 04:30 drink in the kitchen and back to bed is still
        the night, and a fall on the way back is still an out-of-bed incident)."""
        up = self.acc.up_t
        return up is not None and t >= self._night()[1] - 3600.0

    def _night_door_applies(self, t: float) -> bool:
        """A front-door opening at night for this resident, not an evening outing and
        not a morning departure.

        Night begins at his learned sleep onset: a door before his usual bedtime is an
        evening outing or a return from one (a collapse after coming home is the
        inactivity rule's). Between the care-plan night start and a later learned onset
        a departure still counts if he has been in the bedroom since bedtime drew near
        (`bedtime_slack_s` before the onset): out of bed and out of the house. Once the
        up window has opened, a door right after activity inside (bathroom, kitchen) is
        someone leaving for the day, which the not-up rule already covers."""
        if not self._is_night(t) or self.acc.up_t is not None:
            return False
        th = self.model.thresholds
        if self.cfg.night_door_from_onset and th.learned:
            onset = self._at(self.acc.morning, th.night_start_min)
            bedtime = min(onset - self.cfg.bedtime_slack_s, self._night()[0])
            from_bed = (
                not self.away and self.last_bedroom_t is not None and self.last_bedroom_t >= bedtime
            )
            if t < onset and not from_bed:
                return False
        if t < self._up_window():
            return True
        recent = self.last_nonbed_t is not None and t - self.last_nonbed_t < 30 * 60.0
        return not recent

    def _cancel(self, t: float) -> RoutineFinding:
        kind = (
            FindingKind.INACTIVITY
            if self.inactivity_raised
            else FindingKind.NOT_BACK
            if self.not_back_raised
            else FindingKind.OUT_OF_BED
        )
        self.exit_raised = False
        self.inactivity_raised = False
        return RoutineFinding(t, kind, "cancel", AlarmKind.INACTIVITY, Severity.LOW)

    def _occupancy_mat(self, sensor: str) -> bool:
        """Whether a bed mat reports presence (on for as long as someone lies there)
        rather than pulses of movement (on for a second each time the sleeper turns),
        learned from its own on-durations; until known it is read as movement."""
        if self.kind.get(sensor) is not SensorKind.BED or sensor in self.stuck:
            return False
        d = self.on_durations.get(sensor)
        return (
            d is not None and len(d) >= 5 and statistics.median(d) >= self.cfg.mat_occupancy_min_s
        )

    def _has_occupancy_mat(self) -> bool:
        return any(self._occupancy_mat(s) for s in self.on_durations)

    def _bed_changed(self, t: float) -> None:
        occupied = any(v == 1 and self._occupancy_mat(s) for s, v in self.value.items())
        if occupied:
            self.bed_zero_t = None  # a flicker of the mat, not an exit
            if not self.bed_on:
                self.bed_on = True
                self._enter_bed(t)
        elif self.bed_on and self.bed_zero_t is None:
            self.bed_zero_t = t

    def _night_state(self, t: float, bedroom: bool) -> None:
        if self._has_occupancy_mat():
            if not bedroom and self.bed_on:
                # Activity outside the bedroom while a mat reads occupied: the mat is
                # wrong (stuck or lost its off-report); the resident is out of bed.
                self.bed_on = False
                self.bed_zero_t = None
                self._left_bed(t)
            return
        if bedroom and not self.in_bed:
            self._enter_bed(t)
        elif not bedroom and self.in_bed:
            self._left_bed(t)

    def _enter_bed(self, t: float) -> None:
        self.in_bed = True
        if self.exit_t is not None:
            # An exit whose return could not have been seen in time (no working return
            # sensor) says nothing about how long this resident's trips last.
            if self.exit_watched:
                self.acc.exits.append(t - self.exit_t)
            self.exit_t = None
        self.exit_raised = False

    def _left_bed(self, t: float) -> None:
        self.in_bed = False
        if self._is_night(t) and not self.away and not self._up_for_day(t):
            self.exit_t = t
            self.exit_raised = False
            self.exit_watched, quiet = self._return_sensing(t)
            for s in quiet:
                # Reported once per silence, shared with the sensor_silent rule (which
                # waits for 1.5 x the longest learned absence: days, not this night).
                self.silent_raised.add(s)
                self.pending.append(
                    self._technical_finding(
                        t,
                        FindingKind.SENSOR_SILENT,
                        s,
                        t - self.last_seen.get(s, self.started_t),
                        reason="no_return_sensing",
                    )
                )

    def sees_returns(self, t: float) -> bool:
        """Whether a return to bed would be seen as it happens, were he to leave at t."""
        return self.bedroom_sensing and self._return_sensing(t)[0]

    def _return_sensing(self, t: float) -> tuple[bool, list[str]]:
        """Whether a return to bed would be seen when it happens, and the bedroom PIRs
        that should show it but have gone quiet (to report as silent sensors).

        An occupancy mat (not stuck) shows the resident back in bed at once. A bedroom
        PIR does if it is working: activated within `return_sensor_recent_s` of at-home
        time (it sees him at least going to bed and getting up). A movement mat or the
        bedroom door shows a return only when he next moves or uses the door. A quiet
        PIR is reported only if learning expects it every day (`silent_after_s`) and it
        is not reported already (as silent or stuck)."""
        if not self.cfg.out_of_bed_needs_return_sensor:
            return True, []  # the rule before: every exit (bedroom_sensing in _exit_due)
        if self._has_occupancy_mat():
            return True, []
        expected = {s for s, _ in self.model.thresholds.silent_after_s}
        quiet: list[str] = []
        for s, kind in self.kind.items():
            if kind is not SensorKind.MOTION or self.room.get(s) != "bedroom":
                continue
            if s in self.stuck:
                continue  # reported as stuck; it cannot show a return either
            last = self.last_seen.get(s, self.started_t)
            home_s = t - last - (self.away_total - self.seen_away_total.get(s, 0.0))
            if home_s <= self.cfg.return_sensor_recent_s:
                return True, []
            if s in expected and s not in self.silent_raised:
                quiet.append(s)
        return False, quiet

    def _drain(self) -> list[RoutineFinding]:
        out, self.pending = self.pending, []
        return out

    # ---------------------------------------------------------------- technical
    def _technical(self, t: float) -> list[RoutineFinding]:
        out: list[RoutineFinding] = []
        for s, since in self.on_since.items():
            if s in self.stuck:
                continue
            k = self.kind.get(s)
            limit = (
                self.cfg.stuck_motion_s
                if k is SensorKind.MOTION
                else self.cfg.stuck_mat_s
                if k in (SensorKind.BED, SensorKind.CHAIR)
                else math.inf
            )
            if t - since > limit:
                self.stuck.add(s)
                out.append(self._technical_finding(t, FindingKind.SENSOR_STUCK, s, t - since))
        if self.stuck and self.bed_on:
            self._bed_changed(t)
        # A sensor silent while others show the resident at home is a technical fault.
        home_recently = (
            not self.away and self.last_act_t is not None and t - self.last_act_t < 6 * 3600.0
        )
        if home_recently:
            for s, limit in self.model.thresholds.silent_after_s:
                last = self.last_seen.get(s, self.started_t)
                home_s = t - last - (self.away_total - self.seen_away_total.get(s, 0.0))
                if s not in self.silent_raised and home_s > limit:
                    self.silent_raised.add(s)
                    out.append(self._technical_finding(t, FindingKind.SENSOR_SILENT, s, t - last))
        return out

    def _technical_finding(
        self, t: float, kind: FindingKind, sensor: str, for_s: float, **extra: str
    ) -> RoutineFinding:
        logger.info("routine %s: %s", kind.value, sensor)
        detail: tuple[tuple[str, float | int | str | bool], ...] = (
            ("for_s", round(for_s)),
            *extra.items(),
        )
        return RoutineFinding(t, kind, "raise", AlarmKind.TECHNICAL, Severity.LOW, sensor, detail)
