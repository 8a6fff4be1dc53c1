"""Streaming fall detector for a body-worn 3-axis accelerometer (pure NumPy).

Fed chunks of acceleration in g with per-sample timestamps in seconds, as the BLE driver
delivers them, it emits `FallEvent`s:

* ``impact_suspected`` - a peak followed by a clear posture change (early heads-up),
* ``fall_confirmed``   - the peak, the free fall before it, the orientation change and the
  stillness after it look like a fall (a small logistic model decides, see `FallParams`),
* ``fall_cancelled``   - after a confirmed fall the wearer is back in the pre-fall
  orientation for `recover_s` seconds (the person got up).

How it works (why this shape):

1. Every chunk is cleaned (non-finite rows and non-increasing timestamps are dropped) and
   appended to a buffer of the last `history_s` seconds of raw samples. The only
   per-sample work is |a|^2 and a max, so the cost stays near 1 us/sample in 50-sample
   chunks; a chunk starting over a minute in the past means the wearable's clock
   restarted, and the detector starts afresh.
2. A sample with |a| >= `trigger_g` opens a *candidate*; the largest |a| in the next
   `peak_search_s` seconds is its impact. Several candidates may be pending at once, so a
   step just before a real impact does not mask it.
3. When time (samples or `advance`) reaches impact + `post_s`, the window
   [impact - `pre_s`, impact + `post_s`] is resampled to fixed `bin_s` bins (bin means of
   the vector: a 20 Hz-like signal whatever the input rate, gaps filled by interpolation)
   and a handful of orientation-free features is computed (`FEATURES`). No fixed axis is
   assumed: orientation is measured as the angle between mean gravity vectors. A loose
   physical gate (changed posture, a quiet second) comes first, then the logistic model
   decides; below `slow_rate_hz` its threshold is lower (impacts are smeared at 20 Hz).
   A confirmed fall is one incident until the wearer is up again.
4. If the wearable falls silent, `advance(t)` decides with the data there is: the window
   is cut at the last sample; with less than `min_post_s` of settled data after the
   impact nothing is confirmed (no invented stillness: a stream that stops mid-stride
   must not read as a person lying still).

No I/O (except `load_params`, called once at start-up), no clock reads, deterministic.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Names of the features computed at a candidate impact, in model order.
FEATURES: tuple[str, ...] = (
    "log_peak",  # ln of the peak |bin-mean a| within +-0.3 s of the impact, g
    "free_fall",  # min |bin-mean a| in the 1 s before the impact, g (falls: < 0.6 g)
    "angle_end",  # angle between pre-impact gravity and the settled posture, rad
    "log_quiet",  # ln of the quietest 1 s (RMS deviation) after the impact, g
    "log_energy",  # ln mean (|a| - 1)^2 over +-0.5 s around the impact, g^2
    "velocity",  # most negative integral of (|a| - 1 g) in the 1.5 s before impact, m/s
    "turn_before",  # share of the posture change done > 0.75 s before the impact
    "turn_after",  # share of the posture change still to come 0.75 s after the impact
)


class FallEventKind(StrEnum):
    IMPACT_SUSPECTED = "impact_suspected"
    FALL_CONFIRMED = "fall_confirmed"
    FALL_CANCELLED = "fall_cancelled"


@dataclass(frozen=True, slots=True)
class FallEvent:
    """One detector output. Times are in the same clock as the input timestamps (s)."""

    kind: FallEventKind
    time: float  # when the decision was made (latest sample or advance time), s
    impact_time: float  # time of the largest |a| of the candidate, s
    peak_g: float  # largest raw |a| of the candidate, g
    score: float = math.nan  # model probability (0-1); NaN for impact_suspected
    orientation_change_deg: float = math.nan  # pre- vs post-impact gravity angle, degrees
    stillness_g: float = math.nan  # RMS movement in the quietest second after impact, g


@dataclass(frozen=True, slots=True)
class FallParams:
    """Detector settings and the trained logistic model (see `mz train fall`)."""

    trigger_g: float = 1.6  # raw |a| that opens a candidate; falls (even at 20 Hz) exceed 2 g
    # impact_suspected: a peak of at least suspect_g followed, suspect_after_s later, by a
    # posture at least suspect_angle_deg away from the pre-impact one (an early, cheap
    # heads-up; jogging steps have the peak but not the posture change).
    suspect_g: float = 2.0
    suspect_after_s: float = 1.5
    suspect_angle_deg: float = 40.0
    peak_search_s: float = 1.0  # the impact is the largest |a| this long after the trigger
    pre_s: float = 4.0  # seconds of history used before the impact
    post_s: float = 5.0  # seconds observed after the impact before deciding
    min_post_s: float = 0.5  # data needed after impact + 1 s to decide at all
    bin_s: float = 0.05  # internal resampling step (20 Hz: the slowest supported input)
    recover_angle_deg: float = 35.0  # back within this angle of the pre-fall posture ...
    recover_s: float = 3.0  # ... for this long counts as "got up"
    history_s: float = 12.0  # raw samples kept (>= pre_s + post_s + peak_search_s)
    # Physical gate before the model: a fall ends in a changed posture (>= 40 deg from
    # the pre-impact gravity, or >= 23 deg after a hard impact, e.g. backwards into a
    # half-sitting position) and has a quiet second after it (people who fell lie still
    # for a moment even if they move; walking and jogging never are that quiet).
    gate_angle_deg: float = 40.0
    gate_angle_impact_deg: float = 23.0
    gate_impact_g: float = 2.5  # smoothed peak for the lower angle
    gate_quiet_g: float = 0.25
    feature_mean: tuple[float, ...] = (0.0,) * len(FEATURES)
    feature_scale: tuple[float, ...] = (1.0,) * len(FEATURES)
    weights: tuple[float, ...] = (0.0,) * len(FEATURES)
    bias: float = -10.0  # untrained default: never confirms
    threshold: float = 0.5  # probability above which a candidate is a fall
    # Below slow_rate_hz (BLE wearables at ~20 Hz) the impact is smeared over fewer
    # samples and falls score lower; a lower threshold there (set by training).
    threshold_slow: float = 0.5
    slow_rate_hz: float = 50.0

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FallParams:
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in data.items():
            if k not in known:
                continue  # tolerate extra documentation keys in the params file
            kw[k] = tuple(float(x) for x in v) if isinstance(v, list) else float(v)
        p = cls(**kw)
        n = len(FEATURES)
        if not (len(p.feature_mean) == len(p.feature_scale) == len(p.weights) == n):
            raise ValueError(f"fall params: expected {n} feature weights")
        return p


PARAMS_FILE = "fall_params.json"
G = 9.80665  # m/s^2 per g
CLOCK_RESET_S = 60.0  # a chunk starting this far before the last sample: clock restarted
RECOVER_BLOCK_S = 0.5  # posture is judged on 0.5 s means after a fall (smooths walking)


@lru_cache(maxsize=1)
def load_params(path: str | None = None) -> FallParams:
    """Read the params shipped with the package (or `path`); the only I/O in this module."""
    if path is None:
        text = resources.files("edge.detectors").joinpath(PARAMS_FILE).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return FallParams.from_json(data.get("params", data))


@dataclass(slots=True)
class _Candidate:
    t_open: float
    t_peak: float
    peak2: float  # largest |a|^2 so far, g^2
    suspect_checked: bool = False


@dataclass(frozen=True, slots=True)
class CandidateFeatures:
    """What the detector measured around one candidate impact."""

    gate: bool  # the physical preconditions of a fall hold (`FallParams.gate_*`)
    features: FloatArray | None  # order `FEATURES`; None when the gate failed (not needed)
    angle_rad: float  # pre-impact gravity vs the settled posture
    quiet_g: float  # RMS movement in the quietest second after the impact


def _vec_angle(a: FloatArray, b: FloatArray) -> float:
    ax, ay, az = float(a[0]), float(a[1]), float(a[2])
    bx, by, bz = float(b[0]), float(b[1]), float(b[2])
    na = math.sqrt(ax * ax + ay * ay + az * az)
    nb = math.sqrt(bx * bx + by * by + bz * bz)
    if na < 1e-6 or nb < 1e-6:
        return 0.0
    c = (ax * bx + ay * by + az * bz) / (na * nb)
    return math.acos(min(1.0, max(-1.0, c)))


def candidate_features(
    t: FloatArray, acc: FloatArray, t_peak: float, p: FallParams
) -> CandidateFeatures | None:
    """Measure the impact at `t_peak` from the raw samples around it (`t` increasing).

    Returns None when fewer than `min_post_s` seconds of data follow the settling second
    after the impact (the stream stopped: cannot tell). The cheap gate quantities come
    first; the rest is computed only for candidates that pass (walking and jogging steps,
    most candidates, stop early: this keeps the detector near 2 us/sample).
    """
    # Cheap early reject on raw means: the settled posture must differ from the
    # pre-impact one by clearly more than nothing. The gate's smallest angle less a 10 deg
    # margin keeps this a pure speed-up (binned and raw means differ by a few degrees at
    # most); it drops most walking/jogging candidates before any resampling.
    i0, i1, i2 = np.searchsorted(t, (t_peak - 3.0, t_peak - 1.0, t_peak + 1.0))
    if i1 > i0 and t.shape[0] > i2:
        i3 = max(i2, int(np.searchsorted(t, t[-1] - 1.0)))
        rough = _vec_angle(acc[i0:i1].mean(axis=0), acc[i3:].mean(axis=0))
        if rough < math.radians(p.gate_angle_impact_deg - 10.0):
            return CandidateFeatures(False, None, rough, math.nan)
    bs = p.bin_s
    nb = round((p.pre_s + p.post_s) / bs)
    k1s = round(1.0 / bs)  # bins per second
    k0 = min(round(p.pre_s / bs), nb - 1)
    start = t_peak - p.pre_s
    idx = ((t - start) / bs).astype(np.intp)  # t >= start, so truncation is floor
    ok = (idx >= 0) & (idx < nb)
    if not ok.all():
        idx = idx[ok]
        acc = acc[ok]
    cnt = np.bincount(idx, minlength=nb)
    nz = np.flatnonzero(cnt)
    if nz.size == 0:
        return None
    # The post-impact part ends at the last real sample: when the stream stops early
    # (silent wearable, end of a recording) nothing is invented after it.
    last = int(nz[-1]) + 1
    post_lo = min(k0 + k1s, nb - 1)
    if last - post_lo < max(1, round(p.min_post_s / bs)):
        return None
    v = np.empty((nb, 3))
    full = nz.size == nb
    for k in range(3):
        s = np.bincount(idx, weights=acc[:, k], minlength=nb)
        if full:
            v[:, k] = s / cnt
        else:
            # Gaps are bridged linearly (20 Hz input leaves every other bin empty).
            v[:, k] = np.interp(np.arange(nb), nz, s[nz] / cnt[nz])
    post = v[post_lo:last]
    # Quietest second after the impact: people who fell often move a little (try to get
    # up, roll over) but lie still for a moment; walking or jogging never does.
    w = min(k1s, post.shape[0])
    cen = post - post.mean(axis=0)
    c1 = np.cumsum(np.vstack((np.zeros((1, 3)), cen)), axis=0)
    c2 = np.concatenate(([0.0], np.cumsum(np.einsum("ij,ij->i", cen, cen))))
    m1 = (c1[w:] - c1[:-w]) / w
    var = (c2[w:] - c2[:-w]) / w - np.einsum("ij,ij->i", m1, m1)
    quiet = math.sqrt(max(0.0, float(var.min())))
    pre = v[max(0, k0 - 3 * k1s) : max(1, k0 - k1s)]
    g0 = pre.mean(axis=0)
    g2 = v[max(post_lo, last - k1s) : last].mean(axis=0)
    angle_end = _vec_angle(g0, g2)
    mag = np.sqrt(np.einsum("ij,ij->i", v, v))
    r = max(1, round(0.3 / bs))
    peak = float(mag[max(0, k0 - r) : k0 + r + 1].max())
    gate = quiet <= p.gate_quiet_g and (
        angle_end >= math.radians(p.gate_angle_deg)
        or (angle_end >= math.radians(p.gate_angle_impact_deg) and peak >= p.gate_impact_g)
    )
    if not gate:
        return CandidateFeatures(False, None, angle_end, quiet)
    ff = float(mag[max(0, k0 - k1s) : k0 + 2].min())
    e = mag[max(0, k0 - k1s // 2) : k0 + k1s // 2 + 1] - 1.0
    energy = float(np.mean(e * e))
    # Vertical speed reached before the impact (orientation-free): a fall accumulates
    # -0.7 m/s or more of |a| < 1 g; sitting or lying down deliberately does not.
    seg = (mag[max(0, k0 - round(1.5 / bs)) : k0 + 1] - 1.0) * (G * bs)
    csum = np.concatenate(([0.0], np.cumsum(seg)))
    velocity = float(np.min(csum - np.maximum.accumulate(csum)))
    # Falls turn the body within about a second around the impact; deliberate lying down
    # turns before the "impact" (the back meeting the bed) or keeps turning after it.
    total = max(angle_end, 0.3)
    q = max(1, k1s // 4)
    b_vec = v[max(0, k0 - 5 * q) : max(1, k0 - 3 * q)].mean(axis=0)
    a_vec = v[min(nb - 1, k0 + 3 * q) : min(nb, k0 + 5 * q)].mean(axis=0)
    turn_before = min(1.5, _vec_angle(b_vec, g0) / total)
    turn_after = min(1.5, _vec_angle(a_vec, g2) / total)
    feats = np.array(
        [
            math.log(max(peak, 1e-3)),
            ff,
            angle_end,
            math.log(quiet + 1e-3),  # +1 mg: the floor of a still sensor's noise
            math.log(energy + 1e-4),
            velocity,
            turn_before,
            turn_after,
        ]
    )
    return CandidateFeatures(True, feats, angle_end, quiet)


def score_features(feats: FloatArray, p: FallParams) -> float:
    """Probability of a fall from features, by the logistic model in `p`."""
    z = p.bias + float(
        np.dot((feats - np.asarray(p.feature_mean)) / np.asarray(p.feature_scale), p.weights)
    )
    if z < -50.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(slots=True)
class _Confirmed:
    g0: tuple[float, float, float]  # pre-fall gravity direction (unit vector)
    impact_time: float
    peak_g: float
    origin: float  # recovery is watched from here (the decision's window end), s
    block: int = 0  # current RECOVER_BLOCK_S block since origin
    block_sum: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    block_n: int = 0
    upright_since: float | None = None


@dataclass
class FallDetector:
    """Streaming fall detector; one instance per wearable. Not thread-safe."""

    params: FallParams = field(default_factory=load_params)
    #: Called with (CandidateFeatures, impact time, peak g) for every evaluated candidate;
    #: training uses it to log exactly what the edge computes. None in production.
    feature_sink: Any = None

    def __post_init__(self) -> None:
        self._thr2 = self.params.trigger_g**2
        self.samples_seen = 0
        self.samples_dropped = 0
        self.clock_resets = 0
        self._reset()

    def _reset(self) -> None:
        cap = 2048
        self._t = np.empty(cap)
        self._a = np.empty((cap, 3))
        self._n = 0
        self._last_t = -math.inf
        self._pending: list[_Candidate] = []
        self._open: _Candidate | None = None
        self._confirmed: _Confirmed | None = None

    # ------------------------------------------------------------------ input
    def update(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> list[FallEvent]:
        """Feed a chunk: `t` [n] seconds, `acc` [n, 3] g. Returns the events it caused."""
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        aa = np.asarray(acc, dtype=np.float64).reshape(-1, 3)
        if tt.shape[0] != aa.shape[0]:
            raise ValueError(f"{tt.shape[0]} timestamps for {aa.shape[0]} samples")
        n = tt.shape[0]
        if n == 0:
            return []
        self.samples_seen += n
        first = float(tt[0])
        if math.isfinite(first) and first < self._last_t - CLOCK_RESET_S:
            # Far back in time: the wearable's clock restarted (reboot, new connection),
            # not a reordered frame. Start afresh rather than drop everything from now on.
            logger.warning(
                "fall detector: time went back %.1f s; clock reset, state cleared",
                self._last_t - first,
            )
            self.clock_resets += 1
            self._reset()
        # Fast path: all finite and strictly increasing (the usual chunk).
        if not (
            tt[0] > self._last_t and np.all(tt[1:] > tt[:-1]) and np.isfinite(aa).all()
        ) or not math.isfinite(float(tt[-1])):
            keep = np.isfinite(tt) & np.isfinite(aa).all(axis=1)
            # Keep a sample only if it is later than every earlier one (duplicates and
            # out-of-order BLE retransmissions are dropped).
            prev = np.maximum.accumulate(
                np.concatenate(([self._last_t], np.where(keep, tt, -np.inf)))
            )[:-1]
            keep &= tt > prev
            self.samples_dropped += int(n - keep.sum())
            tt = tt[keep]
            aa = aa[keep]
            if tt.shape[0] == 0:
                return []
        self._append(tt, aa)
        self._last_t = float(tt[-1])
        m2 = np.einsum("ij,ij->i", aa, aa)
        events: list[FallEvent] = []
        self._track_candidates(tt, m2, events)
        self._decide(self._last_t, self._last_t, events)
        if self._confirmed is not None:
            self._track_recovery(tt, aa, events)
        return events

    def advance(self, t: float) -> list[FallEvent]:
        """Let time pass to `t` (s) without samples; decides pending candidates that are due."""
        events: list[FallEvent] = []
        if self._open is not None and t >= self._open.t_open + self.params.peak_search_s:
            self._close_open(events)
        self._decide(t, max(self._last_t, -math.inf), events, silent=True)
        return events

    # --------------------------------------------------------------- internals
    def _append(self, t: FloatArray, a: FloatArray) -> None:
        n = t.shape[0]
        cap = self._t.shape[0]
        if self._n + n > cap:
            # Drop what is older than the history horizon; grow if the rate is very high.
            cutoff = float(t[-1]) - self.params.history_s
            first = int(np.searchsorted(self._t[: self._n], cutoff))
            keep = self._n - first
            if keep + n > cap:
                new_cap = max(2 * cap, keep + n)
                nt = np.empty(new_cap)
                na = np.empty((new_cap, 3))
                nt[:keep] = self._t[first : self._n]
                na[:keep] = self._a[first : self._n]
                self._t, self._a = nt, na
            else:
                self._t[:keep] = self._t[first : self._n]
                self._a[:keep] = self._a[first : self._n]
            self._n = keep
        self._t[self._n : self._n + n] = t
        self._a[self._n : self._n + n] = a
        self._n += n

    def _track_candidates(self, t: FloatArray, m2: FloatArray, events: list[FallEvent]) -> None:
        ps = self.params.peak_search_s
        i0 = 0
        n = t.shape[0]
        while i0 < n:
            if self._open is not None:
                end = int(np.searchsorted(t, self._open.t_open + ps, side="right"))
                if end > i0:
                    j = i0 + int(np.argmax(m2[i0:end]))
                    if m2[j] > self._open.peak2:
                        self._open.peak2 = float(m2[j])
                        self._open.t_peak = float(t[j])
                if end >= n and t[-1] < self._open.t_open + ps:
                    return  # window still open, continue with the next chunk
                self._close_open(events)
                i0 = max(end, i0)
                continue
            if float(m2[i0:].max()) < self._thr2:
                return
            j = i0 + int(np.argmax(m2[i0:] >= self._thr2))
            self._open = _Candidate(float(t[j]), float(t[j]), float(m2[j]))
            i0 = j

    def _close_open(self, events: list[FallEvent]) -> None:
        c = self._open
        if c is None:
            return
        self._open = None
        self._pending.append(c)

    def _check_suspect(self, c: _Candidate, events: list[FallEvent]) -> None:
        p = self.params
        c.suspect_checked = True
        peak = math.sqrt(c.peak2)
        if peak < p.suspect_g or self._confirmed is not None:
            return
        t = self._t[: self._n]
        a = self._a[: self._n]
        lo, hi = np.searchsorted(t, (c.t_peak - 3.0, c.t_peak - 1.0))
        lo2, hi2 = np.searchsorted(t, (c.t_peak + 1.0, c.t_peak + p.suspect_after_s))
        if hi <= lo or hi2 <= lo2:
            return
        angle = _vec_angle(a[lo:hi].mean(axis=0), a[lo2:hi2].mean(axis=0))
        if angle >= math.radians(p.suspect_angle_deg):
            events.append(
                FallEvent(
                    FallEventKind.IMPACT_SUSPECTED,
                    time=self._last_t,
                    impact_time=c.t_peak,
                    peak_g=peak,
                    orientation_change_deg=math.degrees(angle),
                )
            )

    def _decide(
        self, now: float, last_sample: float, events: list[FallEvent], silent: bool = False
    ) -> None:
        if not self._pending:
            return
        p = self.params
        if not silent:
            for c in self._pending:
                if not c.suspect_checked and c.t_peak + p.suspect_after_s <= now:
                    self._check_suspect(c, events)
        due = [c for c in self._pending if c.t_peak + p.post_s <= now]
        if not due:
            return
        self._pending = [c for c in self._pending if c.t_peak + p.post_s > now]
        t = self._t[: self._n]
        a = self._a[: self._n]
        for c in due:
            hi = c.t_peak + p.post_s
            lo_i = int(np.searchsorted(t, c.t_peak - p.pre_s))
            hi_i = int(np.searchsorted(t, hi, side="right"))
            cf = candidate_features(t[lo_i:hi_i], a[lo_i:hi_i], c.t_peak, p)
            if cf is None:
                # The stream stopped right after the impact: no basis for a decision. The
                # impact_suspected event (if any) stands; the alarm policy may act on it.
                logger.info("candidate at %.2f s undecidable: no data after it", c.t_peak)
                continue
            peak = math.sqrt(c.peak2)
            if self.feature_sink is not None:
                self.feature_sink(cf, c.t_peak, peak)
            if cf.features is None:
                continue  # failed the physical gate
            if self._confirmed is not None:
                continue  # one incident until the person is up again (more impacts on the floor)
            prob = score_features(cf.features, p)
            n_win = hi_i - lo_i
            span = float(t[hi_i - 1] - t[lo_i]) if n_win > 1 else 0.0
            slow = span > 0.0 and (n_win - 1) / span < p.slow_rate_hz
            if prob < (p.threshold_slow if slow else p.threshold):
                continue
            # Decision time: when the data allowed it. With samples that is the latest
            # sample; after silence (advance) it is the window end or the last sample.
            when = now if not silent else max(hi, last_sample)
            events.append(
                FallEvent(
                    FallEventKind.FALL_CONFIRMED,
                    time=when,
                    impact_time=c.t_peak,
                    peak_g=peak,
                    score=prob,
                    orientation_change_deg=math.degrees(cf.angle_rad),
                    stillness_g=cf.quiet_g,
                )
            )
            pre_lo = int(np.searchsorted(t, c.t_peak - 3.0))
            pre_hi = max(pre_lo + 1, int(np.searchsorted(t, c.t_peak - 1.0)))
            g0 = a[pre_lo:pre_hi].mean(axis=0)
            norm = float(np.linalg.norm(g0))
            gx, gy, gz = (g0 / norm).tolist() if norm > 1e-6 else (0.0, 0.0, 1.0)
            self._confirmed = _Confirmed(
                g0=(gx, gy, gz),
                impact_time=c.t_peak,
                peak_g=peak,
                origin=hi,
            )
            logger.info("fall confirmed: impact %.2f s, peak %.1f g, p=%.3f", c.t_peak, peak, prob)

    def _track_recovery(self, t: FloatArray, a: FloatArray, events: list[FallEvent]) -> None:
        """Watch for getting up in fixed 0.5 s blocks of mean acceleration after the fall.

        Fixed blocks (not chunks) keep the result independent of how the driver chunks;
        a block's mean smooths out walking, so "upright" means the trunk is back within
        `recover_angle_deg` of its pre-fall orientation.
        """
        st = self._confirmed
        if st is None:
            return
        b = np.floor((t - st.origin) / RECOVER_BLOCK_S).astype(np.intp)
        i = int(np.searchsorted(b, 0))  # samples before the origin were judged already
        if i >= b.shape[0]:
            return
        b = b[i:]
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        sums = np.add.reduceat(a[i:], starts, axis=0).tolist()
        counts = np.diff(np.r_[starts, b.shape[0]]).tolist()
        for k, sm, n in zip(b[starts].tolist(), sums, counts, strict=True):
            if k != st.block:
                self._close_block(st, events)
                if self._confirmed is None:
                    return
                st.block, st.block_n, st.block_sum = k, 0, [0.0, 0.0, 0.0]
            st.block_sum = [
                st.block_sum[0] + sm[0],
                st.block_sum[1] + sm[1],
                st.block_sum[2] + sm[2],
            ]
            st.block_n += n

    def _close_block(self, st: _Confirmed, events: list[FallEvent]) -> None:
        if st.block_n == 0:
            return  # a gap tells nothing about posture
        blk = RECOVER_BLOCK_S
        mx, my, mz = st.block_sum
        norm = math.sqrt(mx * mx + my * my + mz * mz)
        cos_lim = math.cos(math.radians(self.params.recover_angle_deg))
        start = st.origin + st.block * blk
        g0 = st.g0
        if norm < 1e-6 or (mx * g0[0] + my * g0[1] + mz * g0[2]) / norm < cos_lim:
            st.upright_since = None
            return
        if st.upright_since is None:
            st.upright_since = start
        end = start + blk
        if end - st.upright_since >= self.params.recover_s - 1e-9:
            events.append(
                FallEvent(
                    FallEventKind.FALL_CANCELLED,
                    time=end,
                    impact_time=st.impact_time,
                    peak_g=st.peak_g,
                )
            )
            self._confirmed = None
