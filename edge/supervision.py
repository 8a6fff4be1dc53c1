"""Sensor supervision: a technical alarm per configured sensor when it cannot be relied on.

    sup = Supervision.from_settings(settings, health)   # one `SensorRules` per device
    sup.update(readings, t); sup.advance(now)           # the `Detector` protocol

Conditions, each a technical alarm (kind `technical`, the sensor's id, `detail.key` naming
the condition, which the hub's texts and SIA codes read) in the agent's alarm book:

- `sensor_silent`: nothing heard for the device's silence limit (`silence_s`, or 3 x
  `supervision.interval_s`); off once it has been back for 10 min (event `sensor_back`;
  a sensor that comes and goes is one alarm).
- `battery_low`: a battery level <= `supervision.low_battery_pct` (20 %); off at a level
  >= that + 5 (a new battery; event `battery_ok`).
- `sensor_stuck`: a binary sensor (motion, occupancy, door, window) on for longer than
  `supervision.stuck_on_s` (by role: motion 2 h, bed/chair 16 h, door 12 h); off when it
  reports off (event `sensor_unstuck`).
- `not_worn`: a wearable's `activity` below 0.02 g (lying on a table) for
  `supervision.not_worn_s` (3 h); off at movement (event `worn_again`).
- `frames_refused`: an authentic encrypted frame refused for a replayed or stale counter
  (someone playing back a recording near the dwelling, or a device that restarted its
  counter and is locked out: then it is silent too, and this says why); off once no frame
  has been refused for 10 min and one has been accepted since (event `frames_accepted`).

Every "off" needs evidence (a frame, a battery level, an "off" report, movement); the lack
of it is no reason to cancel, so a restarted agent, which knows nothing yet, cancels no
alarm its previous run raised: it waits to see the sensor recover. A condition that holds
is repeated each tick (the book ignores the repeat; after a silence it raises again); one
that stops holding is said once. Silent wins: a sensor not heard from is neither stuck
nor unworn (nothing is known of it).

Pure: times come in as arguments; the last-seen times are the `HealthTracker`'s, which the
pipeline feeds with every frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from edge.config import DeviceConfig, EdgeSettings
from edge.detection import DetailValue, Finding
from edge.health import HealthTracker
from sensors.contract import AlarmKind, Severity
from sensors.readings import Reading

SUPERVISION: Final = "supervision"  # the detector name: the alarm book's key
SILENT: Final = "sensor_silent"
BATTERY_LOW: Final = "battery_low"
STUCK: Final = "sensor_stuck"
NOT_WORN: Final = "not_worn"
REFUSED: Final = "frames_refused"
CONDITIONS: Final = (SILENT, BATTERY_LOW, STUCK, NOT_WORN, REFUSED)

# Refused frames: the condition holds this long after the last one.
REFUSED_HOLD_S: Final = 600.0

# A silent sensor heard again is cleared once it has stayed back this long.
SILENT_CLEAR_S: Final = 600.0
# Recovered only this far above the limit: a level that wobbles around 20 % is one alarm.
BATTERY_HYSTERESIS_PCT: Final = 5.0
# Binary quantities whose "on" can stick (BTHome motion, occupancy, opening/door/window).
BINARY_QUANTITIES: Final = frozenset({"motion", "occupancy", "opening", "door", "window"})
# Per role, how long "on" is plausible (motion and mats: the routine detector's limits).
STUCK_ON_S: Final[dict[str, float]] = {
    "motion": 2 * 3600.0,
    "bed": 16 * 3600.0,
    "chair": 16 * 3600.0,
    "door": 12 * 3600.0,
}
NOT_WORN_S: Final = 3 * 3600.0
# A wearable's 1 Hz activity (RMS of |a| - 1 g, edge.fall_monitor): a sleeper turning over
# or breathing on a chest strap is above this; a device lying on a table is below.
MOVEMENT_G: Final = 0.02
_SEVERITY: Final = {
    SILENT: Severity.MEDIUM,  # the sensor watches nothing now
    BATTERY_LOW: Severity.LOW,  # days to weeks left
    STUCK: Severity.MEDIUM,
    NOT_WORN: Severity.MEDIUM,  # no fall detection while it lies there
    REFUSED: Severity.MEDIUM,  # a replay near the dwelling, or a device locked out
}
_BACK: Final = {
    SILENT: "sensor_back",
    BATTERY_LOW: "battery_ok",
    STUCK: "sensor_unstuck",
    NOT_WORN: "worn_again",
    REFUSED: "frames_accepted",
}


@dataclass(frozen=True, slots=True)
class SensorRules:
    """One sensor's supervision limits (math.inf: that condition is not watched)."""

    sensor: str
    silent_s: float = math.inf
    low_battery_pct: float = 0.0  # 0: not watched
    stuck_on_s: float = math.inf
    not_worn_s: float = math.inf
    alarms: bool = True  # False: the status and events only (sensor_silent / sensor_back)


def rules_for(settings: EdgeSettings, device: DeviceConfig) -> SensorRules:
    """The device's limits: its `supervision` settings, else the defaults of its kind."""
    s = device.supervision
    stuck = s.stuck_on_s if s.stuck_on_s is not None else STUCK_ON_S.get(device.role or "", 0.0)
    wearable = device.kind == "wearable" and device.accelerometer
    not_worn = s.not_worn_s if s.not_worn_s is not None else (NOT_WORN_S if wearable else 0.0)
    return SensorRules(
        device.id,
        silent_s=settings.silence_for(device),
        low_battery_pct=s.low_battery_pct,
        stuck_on_s=stuck if stuck > 0 else math.inf,
        not_worn_s=not_worn if wearable and not_worn > 0 else math.inf,
        alarms=s.alarms,
    )


@dataclass(slots=True)
class _Sensor:
    rules: SensorRules
    on_since: float | None = None  # a binary quantity reported on since
    off_seen: bool = False  # an "off" report since the last evaluation
    back_since: float | None = None  # heard again after a silence, since
    last_moved: float | None = None
    moved: bool = False  # movement since the last evaluation
    stated: dict[str, bool] = field(default_factory=dict)  # condition -> last level said


class Supervision:
    """`edge.detection.Detector` of sensor supervision (name "supervision")."""

    def __init__(self, rules: Iterable[SensorRules], health: HealthTracker, start_t: float):
        self.health = health
        self.start_t = start_t
        self._sensors = {r.sensor: _Sensor(r) for r in rules}

    @classmethod
    def from_settings(
        cls, settings: EdgeSettings, health: HealthTracker, start_t: float
    ) -> Supervision:
        return cls((rules_for(settings, d) for d in settings.devices), health, start_t)

    @property
    def name(self) -> str:
        return SUPERVISION

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        for r in readings:
            s = self._sensors.get(r.sensor)
            if s is None or not math.isfinite(r.value):
                continue
            if r.quantity in BINARY_QUANTITIES:
                if r.value >= 0.5:
                    if s.on_since is None:
                        s.on_since = r.t
                else:
                    s.on_since = None
                    s.off_seen = True
            elif r.quantity == "activity" and r.value >= MOVEMENT_G:
                s.last_moved = r.t if s.last_moved is None else max(s.last_moved, r.t)
                s.moved = True
        return []  # conditions are judged on the tick, against the health tracker too

    def advance(self, t: float) -> Sequence[Finding]:
        out: list[Finding] = []
        for s in self._sensors.values():
            out.extend(self._judge(s, t))
        return out

    def _judge(self, s: _Sensor, t: float) -> list[Finding]:
        r = s.rules
        last = self.health.last_seen(r.sensor)
        quiet_s = t - (last if last is not None else self.start_t)
        silent = quiet_s > r.silent_s
        levels: dict[str, tuple[bool | None, dict[str, DetailValue]]] = {
            SILENT: (self._silent_level(s, silent, last, t), {}),
        }
        if silent:
            levels[SILENT][1]["silent_s"] = round(quiet_s)
        battery = self.health.battery(r.sensor)
        if r.low_battery_pct > 0 and battery is not None:
            low = battery <= r.low_battery_pct
            ok = battery >= r.low_battery_pct + BATTERY_HYSTERESIS_PCT
            levels[BATTERY_LOW] = (True if low else (False if ok else None), {"battery": battery})
        if math.isfinite(r.stuck_on_s):
            stuck = s.on_since is not None and t - s.on_since > r.stuck_on_s and not silent
            on_s = round(t - s.on_since) if s.on_since is not None else None
            levels[STUCK] = (True if stuck else (False if s.off_seen else None), {"on_s": on_s})
            s.off_seen = False
        if math.isfinite(r.not_worn_s):
            still_s = t - (s.last_moved if s.last_moved is not None else self.start_t)
            unworn = still_s > r.not_worn_s and not silent and last is not None
            levels[NOT_WORN] = (
                True if unworn else (False if s.moved else None),
                {"still_s": round(still_s)},
            )
            s.moved = False
        refused = self.health.last_refused(r.sensor)
        if refused is not None:
            recent = t - refused <= REFUSED_HOLD_S
            accepted = last is not None and last > refused
            levels[REFUSED] = (
                True if recent else (False if accepted else None),
                {"refused_at": round(refused)},
            )
        out: list[Finding] = []
        for key, (level, detail) in levels.items():
            said = s.stated.get(key)
            if level is None:
                continue  # no evidence either way
            if r.alarms and said is False and not level:
                continue  # an "off" said already (a held "on" repeats: see above)
            if not r.alarms and (said is level or (said is None and not level)):
                continue  # events only: at a change, and "back" only after "gone"
            s.stated[key] = level
            out.append(self._finding(r, key, level, t, detail))
        return out

    @staticmethod
    def _silent_level(s: _Sensor, silent: bool, last: float | None, t: float) -> bool | None:
        """Silent: on. Back: off once it has stayed back for `SILENT_CLEAR_S` (a sensor
        at the edge of radio range that comes and goes is one alarm, not one an hour
        eating into the dwelling's alarm budget at the hub). None: not known yet."""
        if silent:
            s.back_since = None
            return True
        if last is None:
            return None  # not heard of since the start: no evidence that it is back
        if s.stated.get(SILENT) is not True:
            return False  # it was not silent (or this run has not said so): nothing waits
        if s.back_since is None:
            s.back_since = t
        return False if t - s.back_since >= SILENT_CLEAR_S else None

    def _finding(
        self, r: SensorRules, key: str, on: bool, t: float, detail: dict[str, DetailValue]
    ) -> Finding:
        kind = key if on else _BACK[key]
        full: dict[str, DetailValue] = {"key": key, **detail}
        if not r.alarms:  # events only: said at the change, never repeated
            return Finding(kind, t, r.sensor, full)
        return Finding(
            kind,
            t,
            r.sensor,
            full,
            AlarmKind.TECHNICAL,
            _SEVERITY[key],
            on=on,
            rule=key,
        )
