"""A dwelling's learned daily routine: what is usual for *this* resident.

Learned from the dwelling's own history, one `DayRecord` per "routine day" (noon to
noon, so that a night and the morning after it fall in the same record). The model
keeps a rolling window of recent day records and derives its thresholds from them;
it serializes to/from JSON so it survives restarts and can be copied to the hub.

Pure: no I/O, no clock. Thresholds are robust statistics over days (quantiles, not
means), scaled by care-plan factors and clipped to care-plan limits, so that one odd
day neither triggers nor silences the detector.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Final

import numpy as np

logger = logging.getLogger(__name__)

MODEL_VERSION: Final = 1
MINUTES_PER_DAY: Final = 24 * 60
#: The waking day (minutes after midnight): the awake pool and the 3-hour cap of the
#: quiet thresholds, and the silences a sensor threshold learns from (trial T7).
DAY_START_MIN, DAY_END_MIN = 7 * 60, 22 * 60


def in_daytime(minute: float) -> bool:
    return DAY_START_MIN <= minute < DAY_END_MIN


@dataclass(frozen=True, slots=True)
class RoutineConfig:
    """Care-plan settings. Times of day are minutes after local midnight."""

    bucket_min: int = 30  # time-of-day resolution of the learned quiet gaps
    day_boundary_min: int = 12 * 60  # a routine day runs noon to noon
    history_days: int = 28  # rolling learning window
    min_learned_days: int = 3  # below this: cold start, care-plan defaults (trial T2: 5 before)
    min_activations_per_day: int = 10  # fewer: a day away or a sensor outage, not learned
    # Cold-start defaults (conservative: few false alarms, still a safety net).
    default_quiet_day_s: float = 4 * 3600.0
    default_quiet_night_s: float = 11 * 3600.0
    default_up_by_min: int = 10 * 60
    default_night_start_min: int = 23 * 60
    default_night_end_min: int = 7 * 60
    default_out_of_bed_s: float = 60 * 60.0
    # No activity far longer than usual, per time-of-day slot (bucket +- neighbours):
    # threshold = factor * q + spread_z * spread + margin, clipped, where q is a high
    # quantile over days of the slot's longest silence in progress and spread its robust
    # scale (1.4826 x MAD); both shrunk toward this home's pooled value over all slots of
    # the same kind (awake by day / asleep) with `quiet_prior_n` pseudo-days, so a slot
    # seen on few days borrows what is usual for this home. Awake and asleep silences
    # are learned apart (a sleep-in morning does not inflate the daytime threshold).
    quiet_quantile: float = 0.9
    quiet_factor: float = 1.0
    quiet_spread_z: float = 1.0
    quiet_margin_s: float = 30 * 60.0
    quiet_prior_n: float = 3.0
    quiet_min_s: float = 90 * 60.0
    quiet_max_s: float = 12 * 3600.0
    quiet_smooth_buckets: int = 1  # a slot pools +- this many neighbouring buckets
    # Awake thresholds 07:00-22:00 are capped here: an alarm later than 3 h after the
    # last activation can never be a timely one (a collapse is to be found within 3 h).
    quiet_day_cap_s: float | None = 3 * 3600.0
    sleep_quiet: bool = True  # in bed before getting up: learned asleep silences apply
    # Trial T7 (docs/early-warning.md): an awake silence that began 07:00-22:00 with an
    # activation of a sensor learned on >= min_learned_days days also has that sensor's
    # threshold (the slot formula over its daily longest such silence); the sooner wins.
    # Off: not kept (found collapses sooner, but no more of them on the recorded kit).
    # The day records keep what it needs, so a dwelling can switch it on at once.
    sensor_quiet: bool = False
    # Not up by the usual time plus a margin.
    up_window_start_min: int = 4 * 60  # activity after this counts as getting up
    up_confirm_s: float = 30 * 60.0  # back in bed within this long: not up after all
    up_quantile: float = 0.9
    up_margin_min: int = 45
    up_deadline_min_min: int = 6 * 60
    up_deadline_max_min: int = 11 * 60 + 30
    # Night window (learned sleep onset .. usual getting-up), clipped.
    night_start_earliest_min: int = 20 * 60
    night_start_latest_min: int = 2 * 60  # past midnight
    bedtime_slack_s: float = 2 * 3600.0  # silent since this long before the night: asleep
    # Out of bed at night and not back.
    out_of_bed_quantile: float = 0.9
    out_of_bed_factor: float = 2.0
    out_of_bed_min_s: float = 20 * 60.0
    out_of_bed_max_s: float = 90 * 60.0
    out_of_bed_quiet_s: float = 10 * 60.0  # and no sign of life for this long
    out_of_bed_min_exits: int = 3  # to judge whether returns to bed can be sensed
    out_of_bed_min_return_frac: float = 0.7
    bed_debounce_s: float = 90.0  # a mat must stay empty this long to be an exit
    # A room-sensed exit (activity outside the bedroom, then the bedroom again) shorter
    # than this is a flicker (a PIR seeing through the doorway, a false trigger), not a
    # trip: not learned as an exit. The same 90 s as the mat debounce, so an exit means
    # the same whichever sensor sees the bed. 0 = learn every exit (the rule before).
    exit_min_s: float = 90.0
    mat_occupancy_min_s: float = 60.0  # median on-time above this: a presence mat
    # "Not back in bed" is judged only where a return would be seen when it happens: an
    # occupancy mat (not stuck), or a bedroom PIR that has activated within this much
    # at-home time (a working one sees the resident at least going to bed and getting
    # up, every day). A movement mat or the bedroom door shows a return only when the
    # sleeper next moves or uses the door (92 min on kasteren_b), so neither will do on
    # its own. Checked at each exit; without it the rule stands down for that exit.
    return_sensor_recent_s: float = 24 * 3600.0
    # False: any bed mat or bedroom PIR ever seen will do (the rule before).
    out_of_bed_needs_return_sensor: bool = True
    # Front door at night with no sign of the resident inside afterwards.
    night_door_s: float = 15 * 60.0
    # The night of the night-door rule begins at this resident's learned sleep onset
    # (cold start: `default_night_start_min`): a door before his usual bedtime is an
    # evening outing or return. Between the care-plan night start and a later learned
    # onset a door still counts if it follows activity in the bedroom (out of bed and
    # out of the house). False: the night starts at the learned onset or the care-plan
    # night start, whichever is earlier, for every door (the rule before).
    night_door_from_onset: bool = True
    away_after_door_s: float = 10 * 60.0  # door, then nothing inside: resident went out
    # Not back at night: away past the `return_quantile` of the learned return times of
    # night-time outings plus a margin (at the latest the up-by time); off where a learned
    # outing lasted the night, and until `return_min_outings` are learned.
    not_back: bool = True
    return_quantile: float = 0.9
    return_margin_min: float = 60.0
    return_min_outings: int = 2
    # Coming home: the front door, or this many different sensors within the window; with
    # 2, one sensor firing on its own while away is not the resident. 1 = any activation
    # (trial T3 in docs/early-warning.md: 2 not kept, its gain was within the noise).
    arrival_sensors: int = 1
    arrival_window_s: float = 10 * 60.0
    # A sensor active in at least this many clock hours of the day on half the learned
    # days fires while the resident sleeps and is out: not evidence of life. None: off.
    noisy_hours: int | None = 20
    # Technical: silent and stuck sensors.
    sensor_expected_frac: float = 0.6  # active on this share of learned days
    sensor_silent_s: float = 36 * 3600.0
    stuck_motion_s: float = 2 * 3600.0  # a PIR "on" this long lost its off report
    stuck_mat_s: float = 16 * 3600.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoutineConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class DayRecord:
    """What one routine day (noon to noon) looked like."""

    day: str  # ISO date of the morning in this record
    activations: int
    home_night: bool  # at home through the night (else no up time, no night exits)
    up_min: float | None  # first getting-up activity after the up window start
    sleep_min: float | None  # sleep onset, minutes after midnight (may be < 0: before)
    quiet_s: tuple[float, ...]  # per bucket: the longest silence in progress, -1 unseen
    night_exits_s: tuple[float, ...]  # durations of night bed exits that returned
    night_exits_unreturned: int
    sensors: tuple[str, ...]  # sensors that activated this day
    # The same as quiet_s, split by the kind of silence: one that began while asleep
    # (around bedtime, before getting up) or one that began while awake. Empty in
    # records written before the split (then quiet_s stands for the awake silences).
    awake_quiet_s: tuple[float, ...] = ()
    sleep_quiet_s: tuple[float, ...] = ()
    # Night-time outings (away between 20:00 and the up-by time): the return times,
    # minutes after midnight (< 0 before it), and whether one lasted past the up-by time.
    night_returns_min: tuple[float, ...] = ()
    out_overnight: bool = False
    # Per sensor: in how many clock hours (of 24) it activated.
    sensor_hours: tuple[tuple[str, int], ...] = ()
    # Per sensor: the longest awake silence at home that began with its activation
    # between 07:00 and 22:00 (in progress at the day's end, as quiet_s).
    sensor_quiet_s: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DayRecord:
        return cls(
            day=str(d["day"]),
            activations=int(d["activations"]),
            home_night=bool(d["home_night"]),
            up_min=None if d["up_min"] is None else float(d["up_min"]),
            sleep_min=None if d["sleep_min"] is None else float(d["sleep_min"]),
            quiet_s=tuple(float(x) for x in d["quiet_s"]),
            night_exits_s=tuple(float(x) for x in d["night_exits_s"]),
            night_exits_unreturned=int(d["night_exits_unreturned"]),
            sensors=tuple(str(s) for s in d["sensors"]),
            awake_quiet_s=tuple(float(x) for x in d.get("awake_quiet_s", ())),
            sleep_quiet_s=tuple(float(x) for x in d.get("sleep_quiet_s", ())),
            night_returns_min=tuple(float(x) for x in d.get("night_returns_min", ())),
            out_overnight=bool(d.get("out_overnight", False)),
            sensor_hours=tuple((str(s), int(h)) for s, h in d.get("sensor_hours", ())),
            sensor_quiet_s=tuple((str(s), float(q)) for s, q in d.get("sensor_quiet_s", ())),
        )


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Everything the detector needs, derived from the day records (or the defaults)."""

    learned: bool
    days: int
    quiet_s: tuple[float, ...]  # per bucket
    up_by_min: float
    night_start_min: float  # may be negative (before midnight) or > 0
    night_end_min: float
    out_of_bed_s: float
    out_of_bed_enabled: bool
    # Sensors active on most learned days, each with how long a silence is abnormal.
    silent_after_s: tuple[tuple[str, float], ...]
    # Per bucket: how long a silence that began asleep (before getting up) may last;
    # empty when not learned (then only the not-up rule watches the sleeper).
    sleep_quiet_s: tuple[float, ...] = ()
    # Away at night past this (minutes after midnight of the morning): not back. None:
    # the rule stands down (not learned, or this resident sometimes stays out all night).
    return_by_min: float | None = None
    # Why: "on", "learning" (too few outings known), "nights_away" (one lasted the
    # night), "off" (switched off in the care plan).
    not_back_state: str = "learning"
    # Sensors that fire around the clock (`noisy_hours`): ignored as evidence of life.
    noisy: tuple[str, ...] = ()
    # Per sensor: how long an awake daytime silence that began with it may last (T7).
    sensor_quiet_s: tuple[tuple[str, float], ...] = ()


def _cold_quiet(cfg: RoutineConfig) -> tuple[float, ...]:
    n = MINUTES_PER_DAY // cfg.bucket_min
    out = []
    for b in range(n):
        m = b * cfg.bucket_min
        night = m >= cfg.default_night_start_min or m < cfg.default_night_end_min
        out.append(cfg.default_quiet_night_s if night else cfg.default_quiet_day_s)
    return tuple(out)


def _slot_thresholds(
    cfg: RoutineConfig, rows: list[tuple[float, ...]], daytime: bool
) -> list[float | None]:
    """Per bucket: factor * q + spread_z * spread + margin (clipped), where q is the
    `quiet_quantile` over days of the slot's longest silence in progress (the slot is
    the bucket and its +- `quiet_smooth_buckets` neighbours: a routine shifts a little)
    and spread is 1.4826 x its MAD. Both are shrunk toward this home's pooled value over
    all slots (daytime 07:00-22:00 for awake silences, all slots for sleep) with
    `quiet_prior_n` pseudo-days. None for a slot outside the pool never observed."""
    n_buckets = MINUTES_PER_DAY // cfg.bucket_min
    q = np.full((len(rows), n_buckets), np.nan)
    for i, row in enumerate(rows):
        r = np.asarray(row, dtype=float)
        if r.size == n_buckets:
            q[i] = np.where(r < 0, np.nan, r)
    k = cfg.quiet_smooth_buckets
    slot_obs: list[np.ndarray] = []
    for b in range(n_buckets):
        idx = [(b + j) % n_buckets for j in range(-k, k + 1)]
        win = q[:, idx]
        seen = ~np.all(np.isnan(win), axis=1)
        slot_obs.append(np.nanmax(win[seen], axis=1) if seen.any() else np.empty(0))
    in_pool = [(not daytime) or in_daytime(b * cfg.bucket_min) for b in range(n_buckets)]
    pool_vals = [x for b in range(n_buckets) if in_pool[b] for x in slot_obs[b]]
    if not pool_vals:
        return [None] * n_buckets
    pool = np.asarray(pool_vals)
    q_pool, s_pool = _q_spread(pool, cfg.quiet_quantile)
    out: list[float | None] = []
    n0 = cfg.quiet_prior_n
    for b, obs in enumerate(slot_obs):
        n = float(obs.size)
        if n == 0 and not in_pool[b]:
            out.append(None)
            continue
        q_b, s_b = _q_spread(obs, cfg.quiet_quantile) if n else (0.0, 0.0)
        qq = (n * q_b + n0 * q_pool) / (n + n0)
        ss = (n * s_b + n0 * s_pool) / (n + n0)
        thr = cfg.quiet_factor * qq + cfg.quiet_spread_z * ss + cfg.quiet_margin_s
        out.append(min(max(thr, cfg.quiet_min_s), cfg.quiet_max_s))
    return out


def _sensor_thresholds(cfg: RoutineConfig, days: list[DayRecord]) -> tuple[tuple[str, float], ...]:
    """Per sensor seen beginning an awake daytime silence on >= `min_learned_days`
    learned days: the slot formula over its daily longest such silence, shrunk toward
    this home's pool of every sensor's daily values with `quiet_prior_n` pseudo-days."""
    per: dict[str, list[float]] = {}
    for d in days:
        for sensor, q in d.sensor_quiet_s:
            per.setdefault(sensor, []).append(q)
    pool = np.asarray([q for v in per.values() for q in v])
    if pool.size == 0:
        return ()
    q_pool, s_pool = _q_spread(pool, cfg.quiet_quantile)
    n0 = cfg.quiet_prior_n
    out = []
    for sensor, vals in sorted(per.items()):
        n = float(len(vals))
        if n < cfg.min_learned_days:
            continue
        q_s, s_s = _q_spread(np.asarray(vals), cfg.quiet_quantile)
        qq = (n * q_s + n0 * q_pool) / (n + n0)
        ss = (n * s_s + n0 * s_pool) / (n + n0)
        thr = cfg.quiet_factor * qq + cfg.quiet_spread_z * ss + cfg.quiet_margin_s
        out.append((sensor, min(max(thr, cfg.quiet_min_s), cfg.quiet_max_s)))
    return tuple(out)


def _q_spread(x: np.ndarray, quantile: float) -> tuple[float, float]:
    med = float(np.median(x))
    return float(np.quantile(x, quantile)), 1.4826 * float(np.median(np.abs(x - med)))


def _signed_minutes(m: float) -> float:
    """Map a time of day to -12h..+12h around midnight (for night-time averages)."""
    return m - MINUTES_PER_DAY if m >= MINUTES_PER_DAY / 2 else m


@dataclass(slots=True)
class RoutineModel:
    """Rolling window of day records; thresholds recomputed on each new day."""

    config: RoutineConfig = field(default_factory=RoutineConfig)
    days: list[DayRecord] = field(default_factory=list)
    # Days with too few activations to learn a routine from (a day away, a room without
    # a sensor, an outage): kept, within the same window, only for what they say about
    # night-time outings (trial T6: a night away must not be forgotten because the day
    # it belongs to was quiet).
    short_days: list[DayRecord] = field(default_factory=list)
    thresholds: Thresholds = field(init=False)

    def __post_init__(self) -> None:
        self.days = list(self.days)  # the window is trimmed in place: not the caller's list
        self.short_days = list(self.short_days)
        self._trim()
        self.thresholds = self._derive()

    def add_day(self, record: DayRecord) -> None:
        if record.activations < self.config.min_activations_per_day:
            logger.debug("day %s not learned: %d activations", record.day, record.activations)
            # Only where the outing itself was seen (the departure or the return is an
            # activation): a record with none at all is an outage as much as a trip, and
            # must not switch the not-back rule off for the weeks it stays in the window.
            if record.activations > 0 and (record.night_returns_min or record.out_overnight):
                self.short_days.append(record)
        else:
            self.days.append(record)
        self._trim()
        self.thresholds = self._derive()

    def _trim(self) -> None:
        """The rolling window: the last `history_days` learned days, and the short days
        no older than the oldest of them once the window is full, nor more than
        `history_days` calendar days before the newest record (at most `history_days`)."""
        n = self.config.history_days
        del self.days[:-n]
        if self.short_days and n > 0:
            newest = max(d.day for d in (*self.days[-1:], *self.short_days))
            cut = (date.fromisoformat(newest) - timedelta(days=n)).isoformat()
            if len(self.days) >= n:
                cut = max(cut, self.days[0].day)
            self.short_days = [d for d in self.short_days if d.day > cut]
        del self.short_days[:-n]

    def _derive(self) -> Thresholds:
        cfg = self.config
        days = self.days
        if len(days) < cfg.min_learned_days:
            return Thresholds(
                learned=False,
                days=len(days),
                quiet_s=_cold_quiet(cfg),
                up_by_min=cfg.default_up_by_min,
                night_start_min=_signed_minutes(cfg.default_night_start_min),
                night_end_min=cfg.default_night_end_min,
                out_of_bed_s=cfg.default_out_of_bed_s,
                out_of_bed_enabled=True,
                silent_after_s=(),
                not_back_state="learning" if cfg.not_back else "off",
            )
        cold = _cold_quiet(cfg)
        awake_rows = [d.awake_quiet_s if d.awake_quiet_s else d.quiet_s for d in days]
        quiet = [
            cold[b] if v is None else v
            for b, v in enumerate(_slot_thresholds(cfg, awake_rows, daytime=True))
        ]
        if cfg.quiet_day_cap_s is not None:
            cap = max(cfg.quiet_day_cap_s, cfg.quiet_min_s)
            quiet = [
                min(v, cap) if in_daytime(b * cfg.bucket_min) else v for b, v in enumerate(quiet)
            ]
        sleep_rows = [d.sleep_quiet_s for d in days if d.sleep_quiet_s]
        sleep_quiet: tuple[float, ...] = ()
        if cfg.sleep_quiet and len(sleep_rows) >= cfg.min_learned_days:
            sq = _slot_thresholds(cfg, sleep_rows, daytime=False)
            # A slot never seen asleep: no sleep threshold there (the not-up rule and
            # the awake thresholds after the up-by time still apply).
            sleep_quiet = tuple(math.inf if v is None else v for v in sq)

        ups = [d.up_min for d in days if d.home_night and d.up_min is not None]
        if len(ups) >= cfg.min_learned_days // 2 + 1:
            up_q = float(np.quantile(ups, cfg.up_quantile))
            up_by = min(
                max(up_q + cfg.up_margin_min, cfg.up_deadline_min_min), cfg.up_deadline_max_min
            )
            night_end = float(np.median(ups))
        else:
            up_by, night_end = cfg.default_up_by_min, cfg.default_night_end_min
        sleeps = [d.sleep_min for d in days if d.home_night and d.sleep_min is not None]
        if sleeps:
            night_start = float(np.median(sleeps))
            lo = _signed_minutes(cfg.night_start_earliest_min)
            night_start = min(max(night_start, lo), float(cfg.night_start_latest_min))
        else:
            night_start = _signed_minutes(cfg.default_night_start_min)

        # Exits shorter than `exit_min_s` are flickers: they would drag the limit down
        # and count as returns that prove nothing (the records keep them all).
        exits = [x for d in days for x in d.night_exits_s if x >= cfg.exit_min_s]
        unreturned = sum(d.night_exits_unreturned for d in days)
        total = len(exits) + unreturned
        # A home where returns to bed cannot be sensed (no bed mat, bedroom door left
        # open) would alarm on every night-time toilet visit: the rule switches off.
        enabled = total < cfg.out_of_bed_min_exits or (
            len(exits) / total >= cfg.out_of_bed_min_return_frac
        )
        if len(exits) >= cfg.out_of_bed_min_exits:
            oob = cfg.out_of_bed_factor * float(np.quantile(exits, cfg.out_of_bed_quantile))
            oob = min(max(oob, cfg.out_of_bed_min_s), cfg.out_of_bed_max_s)
        else:
            oob = cfg.default_out_of_bed_s

        # A sensor is expected if it was active on most learned days; it is silent when
        # quiet for longer than both the care-plan minimum and 1.5x its longest learned
        # run of days without activity (a dishwasher is not used every day).
        silent: list[tuple[str, float]] = []
        names = sorted({s for d in days for s in d.sensors})
        for s in names:
            present = [s in d.sensors for d in days]
            if sum(present) / len(days) < cfg.sensor_expected_frac:
                continue
            # Only runs that ended count: a silence still going on at the end of the
            # learning window is the fault we are looking for, not a habit.
            run = longest = 0
            for p in present:
                if p:
                    longest = max(longest, run)
                    run = 0
                else:
                    run += 1
            silent.append((s, max(cfg.sensor_silent_s, 1.5 * (longest + 1) * 86400.0)))
        outings = days + self.short_days
        returns = [r for d in outings for r in d.night_returns_min]
        return_by = None
        if not cfg.not_back:
            not_back_state = "off"
        elif any(d.out_overnight for d in outings):
            not_back_state = "nights_away"
        elif len(returns) < cfg.return_min_outings:
            not_back_state = "learning"
        else:
            q = float(np.quantile(returns, cfg.return_quantile)) + cfg.return_margin_min
            return_by = min(q, up_by)
            not_back_state = "on"
        hours: dict[str, int] = {}
        for d in days:
            for s, h in d.sensor_hours:
                if cfg.noisy_hours is not None and h >= cfg.noisy_hours:
                    hours[s] = hours.get(s, 0) + 1
        noisy = tuple(sorted(s for s, k in hours.items() if 2 * k >= len(days)))
        return Thresholds(
            learned=True,
            days=len(days),
            quiet_s=tuple(quiet),
            up_by_min=up_by,
            night_start_min=night_start,
            night_end_min=night_end,
            out_of_bed_s=oob,
            out_of_bed_enabled=enabled,
            silent_after_s=tuple(silent),
            sleep_quiet_s=sleep_quiet,
            return_by_min=return_by,
            not_back_state=not_back_state,
            noisy=noisy,
            sensor_quiet_s=_sensor_thresholds(cfg, days) if cfg.sensor_quiet else (),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": MODEL_VERSION,
                "config": self.config.to_json(),
                "days": [d.to_json() for d in self.days],
                "short_days": [d.to_json() for d in self.short_days],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, config: RoutineConfig | None = None) -> RoutineModel:
        """Restore a model; `config` (the current care plan) overrides the stored one."""
        data = json.loads(text)
        if data.get("version") != MODEL_VERSION:
            raise ValueError(f"routine model version {data.get('version')!r} unsupported")
        cfg = config or RoutineConfig.from_json(data["config"])
        days = [DayRecord.from_json(d) for d in data["days"]]
        short = [DayRecord.from_json(d) for d in data.get("short_days", ())]
        return cls(config=cfg, days=days, short_days=short)
