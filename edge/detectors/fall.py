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
   Standardised features are clipped (`feature_clip`) so that no single feature far out
   of its training range decides alone. A person who is up again before the window ends
   fails the gate (changed posture at the end); the "got-up" path still confirms such a
   candidate when the fall itself is plain (horizontal right after a hard impact with a
   free fall and a descent), and the recovery watch then reports `fall_cancelled`.
   A confirmed fall is one incident until the wearer is up again.
4. If the wearable falls silent, `advance(t)` decides with the data there is: the window
   is cut at the last sample; with less than `min_post_s` of settled data after the
   impact nothing is confirmed (no invented stillness: a stream that stops mid-stride
   must not read as a person lying still). A window cut short this way shows the
   aftermath only in part, so the model must clear its threshold by a margin
   (`partial_margin_logit`).
5. Timestamps that are BLE arrival times: after a link stall the buffered samples arrive
   in a burst; a window with a stall is re-timed first (`retime_bursts`).
6. Per wearer, the gravity direction while walking is learnt (fixed 2 s blocks, cheap
   sums). Once known, a candidate whose pre-impact posture was already far from it (the
   person was lying: rolling over in bed) is not confirmed unless its impact or descent
   is fall-like (out of bed). Without a walk seen, this rule does nothing.

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
    "turn_rate",  # fastest trunk turn around the impact, rad/s (over `TURN_RATE_S`)
)

#: `turn_rate`: the largest angle between bin-mean vectors this far apart (s), over the
#: windows that overlap [impact - 1.5 s, impact + 1.0 s], per second. Falls turn the trunk
#: fast, even soft ones (the direction of a softened sample is intact); deliberate lying
#: down turns slowly.
TURN_RATE_S = 0.5
TURN_SPAN_S = (1.5, 1.0)


class FallEventKind(StrEnum):
    IMPACT_SUSPECTED = "impact_suspected"
    FALL_CONFIRMED = "fall_confirmed"
    FALL_CANCELLED = "fall_cancelled"
    # A suspected impact settled as no fall (its aftermath seen: a full window the model
    # turned down, or the wearer upright when a silent wearable came back).
    IMPACT_DISMISSED = "impact_dismissed"


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
    # Standardised features are clipped to +-feature_clip before the linear model (0: no
    # clipping), so that no single feature far outside the training range (a new device,
    # a new kind of movement) can decide alone. Set by training.
    feature_clip: float = 0.0
    weights: tuple[float, ...] = (0.0,) * len(FEATURES)
    bias: float = -10.0  # untrained default: never confirms
    threshold: float = 0.5  # probability above which a candidate is a fall
    # Below slow_rate_hz (BLE wearables at ~20 Hz) the impact is smeared over fewer
    # samples and falls score lower; a lower threshold there (set by training).
    threshold_slow: float = 0.5
    slow_rate_hz: float = 50.0
    # Per-wearer upright reference ("lying-to-lying" rule). The detector learns the
    # gravity direction of this wearer while walking (fixed `upright_block_s` blocks with
    # step-like |a| variation around a steady direction, `upright_min_blocks` of them).
    # A candidate whose pre-impact posture is already `lying_angle_deg` or more away from
    # it (the person was lying: rolling over in bed) is not a fall, unless the impact or
    # the descent is fall-like (out of bed onto the floor): smoothed peak >=
    # `lying_keep_g` or velocity <= -`lying_keep_v`. No reference yet: no effect.
    upright_block_s: float = 2.0  # 0 disables the rule
    upright_min_blocks: float = 3.0
    upright_alpha: float = 0.2  # weight of a new walking block (re-mounting is re-learnt)
    lying_angle_deg: float = 60.0
    lying_keep_g: float = 3.0
    lying_keep_v: float = 1.5
    # Fall and up again at once (the "got up" path). The gate above wants a changed
    # posture at the end of the post-window, which a person who is up within a few
    # seconds cannot meet. Such a candidate is still a fall when the body was horizontal
    # right after the impact (a `getup_hold_s` mean >= `getup_angle_deg` from the
    # pre-impact gravity, starting within `getup_within_s`) after a real fall: smoothed
    # peak >= `gate_impact_g`, free fall <= `getup_free_fall_g`, descent velocity <=
    # -`getup_velocity`, and a quiet second (`gate_quiet_g`). It is confirmed (and the
    # recovery watch then reports `fall_cancelled`: the alarm policy cancels, the event
    # stays). Hand-set from the physics; `getup_angle_deg = 0` disables it.
    getup_angle_deg: float = 60.0
    getup_hold_s: float = 0.75
    getup_within_s: float = 1.25
    getup_free_fall_g: float = 0.6
    getup_velocity: float = 1.2
    # A decision on part of the post-window: the stream stopped (a silent wearable, the
    # end of a recording) more than `partial_missing_s` before impact + post_s. The
    # posture and stillness after the impact are then seen only in part, so the model
    # must clear its threshold by `partial_margin_logit` (odds x e at 1.0). Hand-set;
    # 0 decides partial windows like full ones.
    partial_margin_logit: float = 1.0
    partial_missing_s: float = 0.5
    # ... and such a window is decided only after this much silence past its end (a BLE
    # stall or a late frame is not a silent wearable: its samples come and the window is
    # decided on them).
    partial_wait_s: float = 3.0

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
    suspected: bool = False  # impact_suspected was emitted for it


@dataclass(frozen=True, slots=True)
class _Unresolved:
    """A suspected impact the wearable went silent after, before its aftermath was seen
    and without a confirmed fall: judged again by the posture when samples come back."""

    impact_time: float
    g0: tuple[float, float, float]  # pre-impact gravity direction (unit vector)
    peak_g: float
    since: float  # the last sample before the silence, s


@dataclass(frozen=True, slots=True)
class CandidateFeatures:
    """What the detector measured around one candidate impact."""

    gate: bool  # the physical preconditions of a fall hold (`FallParams.gate_*`)
    features: FloatArray | None  # order `FEATURES`; None when the gate failed (not needed)
    angle_rad: float  # pre-impact gravity vs the settled posture
    quiet_g: float  # RMS movement in the quietest second after the impact
    pre_g: tuple[float, float, float] = (0.0, 0.0, 0.0)  # pre-impact mean vector, g
    # A fall and up again within the post-window (`FallParams.getup_*`): confirmed
    # whatever the model says; `held_rad` is the posture reached right after the impact.
    got_up: bool = False
    held_rad: float = math.nan


def _vec_angle(a: FloatArray, b: FloatArray) -> float:
    ax, ay, az = float(a[0]), float(a[1]), float(a[2])
    bx, by, bz = float(b[0]), float(b[1]), float(b[2])
    na = math.sqrt(ax * ax + ay * ay + az * az)
    nb = math.sqrt(bx * bx + by * by + bz * bz)
    if na < 1e-6 or nb < 1e-6:
        return 0.0
    c = (ax * bx + ay * by + az * bz) / (na * nb)
    return math.acos(min(1.0, max(-1.0, c)))


#: Walking-like upright block: SD of |a|^2 (g^2) between these. A criterion on the
#: vector's total variance instead learnt a lying "upright" from moving on the mat after a
#: fall (SisFall F11) and sitting ones (D07): |a| must vary, not only its direction.
WALK_SD = (0.1, 1.5)
#: A stall of the BLE link: no sample for this long (s) and this many nominal intervals.
STALL_S = 0.2
STALL_INTERVALS = 4.0
BURST_FRACTION = 0.5  # intervals below this share of the nominal one are a burst


def retime_bursts(t: FloatArray) -> FloatArray:
    """Undo the time compression of buffered BLE samples (arrival times, as in UMAFall).

    After a link stall the device delivers the samples it buffered in a burst a few ms
    apart, then live samples at the usual pace. Taken at face value, seconds of movement
    would be squeezed into a fraction of a second (an impact's descent and free fall
    would vanish). The burst's samples are put back at the nominal interval, counted
    backwards from the last one (which arrived live), never before the sample preceding
    the stall (if they do not fit they are spread evenly over the stall). Lost samples (no
    burst after the stall) stay a gap. Returns `t` itself when there is nothing to do.
    """
    n = t.shape[0]
    if n < 4:
        return t
    d = np.diff(t)
    if float(d.max()) <= STALL_S:
        return t
    dt = float(np.median(d))
    if dt <= 0.0:
        return t
    gaps = np.flatnonzero((d > STALL_S) & (d > STALL_INTERVALS * dt))
    out = t.copy()
    short = d < BURST_FRACTION * dt
    for i in gaps.tolist():
        e = i + 1  # first sample after the stall
        while e < n - 1 and short[e]:
            e += 1
        k = e - i  # samples i+1..e arrived in the burst (e: the live one)
        if k < 2:
            continue
        t_end = float(t[e])
        start = t_end - (k - 1) * dt
        j = np.arange(i + 1, e + 1)
        if start > float(t[i]):
            out[j] = t_end - (e - j) * dt
        else:
            out[j] = float(t[i]) + (j - i) * (t_end - float(t[i])) / k
    return out


def candidate_features(
    t: FloatArray, acc: FloatArray, t_peak: float, p: FallParams, peak_g: float | None = None
) -> CandidateFeatures | None:
    """Measure the impact at `t_peak` from the raw samples around it (`t` increasing).

    Returns None when fewer than `min_post_s` seconds of data follow the settling second
    after the impact (the stream stopped: cannot tell). The cheap gate quantities come
    first; the rest is computed only for candidates that pass (walking and jogging steps,
    most candidates, stop early: this keeps the detector near 2 us/sample). `peak_g` is
    the raw |a| at `t_peak` when the caller knows it (read from `acc` otherwise).
    """
    # Cheap early reject on raw means: the settled posture must differ from the
    # pre-impact one by clearly more than nothing. The gate's smallest angle less a 10 deg
    # margin keeps this a pure speed-up (binned and raw means differ by a few degrees at
    # most); it drops most walking/jogging candidates before any resampling.
    i0, i1, i2 = np.searchsorted(t, (t_peak - 3.0, t_peak - 1.0, t_peak + 1.0))
    if i1 > i0 and t.shape[0] > i2:
        i3 = max(i2, int(np.searchsorted(t, t[-1] - 1.0)))
        g_pre = acc[i0:i1].mean(axis=0)
        rough = _vec_angle(g_pre, acc[i3:].mean(axis=0))
        if rough < math.radians(p.gate_angle_impact_deg - 10.0) and not (
            p.getup_angle_deg > 0.0
            and (peak_g if peak_g is not None else _raw_peak(t, acc, t_peak)) >= p.gate_impact_g
            and _may_have_got_up(t, acc, t_peak, g_pre, p)
        ):
            return CandidateFeatures(False, None, rough, math.nan)
    bs = p.bin_s
    nb = round((p.pre_s + p.post_s) / bs)
    k1s = round(1.0 / bs)  # bins per second
    k0 = min(round(p.pre_s / bs), nb - 1)
    # Bins start at the impact's sample phase. A wearable with an exact clock puts its
    # samples on that grid, right on the bin edges: computed from absolute times, float
    # rounding decided their bin (with UNIX-time stamps the same fall scored up to 1.5
    # logits lower than with times from zero). Times relative to the impact keep full
    # precision, and a sample on an edge belongs to the bin it starts (+1e-3 bin, above
    # the rounding of UNIX times). t >= t_peak - pre_s: the value is >= 0, truncation is
    # floor.
    idx = ((t - t_peak) * (1.0 / bs) + (k0 + 1e-3)).astype(np.intp)
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
    # Up again by the end of the window: only the got-up path can make this a fall.
    getup = (
        p.getup_angle_deg > 0.0
        and quiet <= p.gate_quiet_g
        and peak >= p.gate_impact_g
        and angle_end < math.radians(p.gate_angle_deg)
    )
    if not gate and not getup:
        return CandidateFeatures(False, None, angle_end, quiet)
    ff = float(mag[max(0, k0 - k1s) : k0 + 2].min())
    e = mag[max(0, k0 - k1s // 2) : k0 + k1s // 2 + 1] - 1.0
    energy = float(np.mean(e * e))
    # Vertical speed reached before the impact (orientation-free): a fall accumulates
    # -0.7 m/s or more of |a| < 1 g; sitting or lying down deliberately does not.
    seg = (mag[max(0, k0 - round(1.5 / bs)) : k0 + 1] - 1.0) * (G * bs)
    csum = np.concatenate(([0.0], np.cumsum(seg)))
    velocity = float(np.min(csum - np.maximum.accumulate(csum)))
    held = math.nan
    if getup and ff <= p.getup_free_fall_g and velocity <= -p.getup_velocity:
        held = _held_angle(v, k0, last, g0, p)
    got_up = held >= math.radians(p.getup_angle_deg)
    # Falls turn the body within about a second around the impact; deliberate lying down
    # turns before the "impact" (the back meeting the bed) or keeps turning after it.
    total = max(angle_end, 0.3)
    q = max(1, k1s // 4)
    b_vec = v[max(0, k0 - 5 * q) : max(1, k0 - 3 * q)].mean(axis=0)
    a_vec = v[min(nb - 1, k0 + 3 * q) : min(nb, k0 + 5 * q)].mean(axis=0)
    turn_before = min(1.5, _vec_angle(b_vec, g0) / total)
    turn_after = min(1.5, _vec_angle(a_vec, g2) / total)
    turn_rate = _turn_rate(v, k0, last, bs)
    gx, gy, gz = g0.tolist()
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
            turn_rate,
        ]
    )
    return CandidateFeatures(gate, feats, angle_end, quiet, (gx, gy, gz), got_up, held)


def _turn_rate(v: FloatArray, k0: int, last: int, bs: float) -> float:
    """Fastest turn of the bin-mean vector `v` around the impact bin `k0`, rad/s: the
    largest angle between bins k and k + w (w: `TURN_RATE_S`) over the windows that
    overlap [impact - 1.5 s, impact + 1.0 s] and end at real data (before `last`).
    Pairs with a bin under 0.5 g are left out: in free fall or unloading the vector is
    too small for its direction to mean a posture."""
    w = max(1, round(TURN_RATE_S / bs))
    lo = max(0, k0 - round(TURN_SPAN_S[0] / bs) - w)
    hi = min(k0 + round(TURN_SPAN_S[1] / bs), last - 1 - w)  # last window start
    if hi < lo:
        return 0.0
    a = v[lo : hi + 1]
    b = v[lo + w : hi + w + 1]
    a2 = np.einsum("ij,ij->i", a, a)
    b2 = np.einsum("ij,ij->i", b, b)
    ok = (a2 >= 0.25) & (b2 >= 0.25)
    if not ok.any():
        return 0.0
    cos = np.einsum("ij,ij->i", a[ok], b[ok]) / np.sqrt(a2[ok] * b2[ok])
    return math.acos(min(1.0, max(-1.0, float(cos.min())))) / (w * bs)


def _raw_peak(t: FloatArray, acc: FloatArray, t_peak: float) -> float:
    j = min(int(np.searchsorted(t, t_peak)), t.shape[0] - 1)
    return math.sqrt(float(np.dot(acc[j], acc[j])))


def _may_have_got_up(
    t: FloatArray, acc: FloatArray, t_peak: float, g_pre: FloatArray, p: FallParams
) -> bool:
    """Cheap pre-check on raw samples for the got-up path (the exact test is on bins),
    after a hard raw impact: a clearly tilted mean over the 1.5 s after it (a 0.75 s hold
    at >= 60 deg in that span tilts its mean by >= 30 deg; 25 deg leaves a margin)."""
    lo, hi = np.searchsorted(t, (t_peak + 0.1, t_peak + 0.1 + 2 * p.getup_hold_s))
    if hi <= lo:
        return False
    limit = math.radians(max(0.0, p.getup_angle_deg * 0.5 - 5.0))
    return _vec_angle(g_pre, acc[lo:hi].mean(axis=0)) >= limit


def _held_angle(v: FloatArray, k0: int, last: int, g0: FloatArray, p: FallParams) -> float:
    """Largest angle from `g0` of a `getup_hold_s` mean of the bins `v`, for windows that
    start within `getup_within_s` after the impact bin `k0` and end at real data."""
    w = max(1, round(p.getup_hold_s / p.bin_s))
    k_hi = min(k0 + round(p.getup_within_s / p.bin_s), last - w)
    if k_hi < k0 + 1:
        return math.nan
    c = np.cumsum(v[k0 + 1 : k_hi + w], axis=0)
    c = np.vstack((np.zeros((1, 3)), c))
    m = c[w:] - c[:-w]  # window sums (same direction as the means)
    nm = np.sqrt(np.einsum("ij,ij->i", m, m))
    ng = float(np.linalg.norm(g0))
    if ng < 1e-6:
        return math.nan
    cos = (m @ g0) / np.maximum(nm * ng, 1e-9)
    return math.acos(min(1.0, max(-1.0, float(cos.min()))))


def score_features(feats: FloatArray, p: FallParams) -> float:
    """Probability of a fall from features, by the logistic model in `p`."""
    zf = (feats - np.asarray(p.feature_mean)) / np.asarray(p.feature_scale)
    if p.feature_clip > 0.0:
        zf = np.clip(zf, -p.feature_clip, p.feature_clip)
    z = p.bias + float(np.dot(zf, p.weights))
    if z < -50.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def _raise_odds(threshold: float, logits: float) -> float:
    """The probability threshold `logits` higher on the logit scale."""
    if logits == 0.0 or not 0.0 < threshold < 1.0:
        return threshold
    z = math.log(threshold / (1.0 - threshold)) + logits
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
        self.lying_vetoes = 0  # candidates the lying-to-lying rule turned down
        self.got_up_confirms = 0  # falls confirmed by the got-up path (not the model)
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
        self._unresolved: _Unresolved | None = None
        # upright reference: unit gravity direction while walking, and its evidence
        self._up: tuple[float, float, float] | None = None
        self._up_blocks = 0
        self._blk: int | None = None  # open upright block (index of upright_block_s)
        self._blk_prev: tuple[float, float, float] | None = None  # last walking block

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
        if self.params.upright_block_s > 0.0:
            self._track_upright()
        self._track_candidates(tt, m2, events)
        if self._unresolved is not None:
            self._judge_unresolved(events)
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
            if self._blk is not None:  # the open upright block is summed when it closes
                cutoff = min(cutoff, self._blk * self.params.upright_block_s)
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

    @property
    def upright(self) -> tuple[float, float, float] | None:
        """The learnt upright gravity direction (unit vector), None until enough walking."""
        if self._up is None or self._up_blocks < self.params.upright_min_blocks:
            return None
        return self._up

    def _track_upright(self) -> None:
        """Close the upright blocks that the latest samples ended (fixed time blocks, so
        independent of chunking). A block is summed once, from the sample buffer, when it
        closes: per chunk this costs one comparison (the buffer keeps the open block)."""
        blk = self.params.upright_block_s
        k_last = math.floor(self._last_t / blk)
        if self._blk is None:
            self._blk = math.floor(float(self._t[0]) / blk) if self._n else k_last
        if k_last == self._blk:
            return
        t = self._t[: self._n]
        lo = int(np.searchsorted(t, self._blk * blk))
        hi = int(np.searchsorted(t, k_last * blk))
        self._blk = k_last
        if hi <= lo:
            return
        while lo < hi:  # usually one or two blocks
            end = min(hi, int(np.searchsorted(t, (math.floor(float(t[lo]) / blk) + 1) * blk)))
            self._close_upright_block(self._a[lo:end])
            lo = end

    def _close_upright_block(self, a: FloatArray) -> None:
        """A walking-like block: enough samples, moving like steps (not still, not violent)
        around a steady direction; two in a row update the upright estimate."""
        n = a.shape[0]
        blk = self.params.upright_block_s
        prev, self._blk_prev = self._blk_prev, None
        if n < 8.0 * blk:  # < 8 Hz worth of samples: a gap, tells nothing
            return
        m2 = np.einsum("ij,ij->i", a, a)
        mx, my, mz = (a.sum(axis=0) / n).tolist()
        mu = float(m2.sum()) / n  # mean |a|^2
        sd = math.sqrt(max(0.0, float(np.dot(m2, m2)) / n - mu * mu))  # SD of |a|^2
        norm2 = mx * mx + my * my + mz * mz  # |mean a|^2
        # |a|^2 must vary like steps (a vector that only turns, as when rolling over,
        # keeps |a| = 1 g), and the direction must stay steady (|mean a|^2 near mean |a|^2).
        if not (0.7 <= norm2 <= 1.5 and WALK_SD[0] <= sd <= WALK_SD[1] and norm2 >= 0.8 * mu):
            return
        norm = math.sqrt(norm2)
        u = (mx / norm, my / norm, mz / norm)
        self._blk_prev = u
        if prev is None or u[0] * prev[0] + u[1] * prev[1] + u[2] * prev[2] < 0.94:
            return  # steady over two blocks (within ~20 deg), not turning over
        if self._up is None:
            self._up = u
        else:
            w = self.params.upright_alpha
            vx = (1.0 - w) * self._up[0] + w * u[0]
            vy = (1.0 - w) * self._up[1] + w * u[1]
            vz = (1.0 - w) * self._up[2] + w * u[2]
            vn = math.sqrt(vx * vx + vy * vy + vz * vz)
            if vn < 1e-6:
                self._up = u
            else:
                self._up = (vx / vn, vy / vn, vz / vn)
        self._up_blocks += 1

    def _was_lying(self, cf: CandidateFeatures) -> bool:
        """The lying-to-lying rule: the pre-impact posture was already far from this
        wearer's upright, and nothing fall-like (a hard impact or a descent) happened."""
        up = self.upright
        if up is None or cf.features is None:
            return False
        p = self.params
        ang = _vec_angle(np.asarray(cf.pre_g), np.asarray(up))
        if ang < math.radians(p.lying_angle_deg):
            return False
        peak = math.exp(float(cf.features[0]))
        velocity = float(cf.features[5])
        return peak < p.lying_keep_g and velocity > -p.lying_keep_v

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
            c.suspected = True
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

        def is_due(c: _Candidate) -> bool:
            end = c.t_peak + p.post_s
            if last_sample < end:  # silent before the window's end: wait a little longer
                end += p.partial_wait_s
            return end <= now

        due = [c for c in self._pending if is_due(c)]
        if not due:
            return
        self._pending = [c for c in self._pending if not is_due(c)]
        for c in due:
            self._decide_one(c, now, last_sample, silent, events)

    def _decide_one(
        self,
        c: _Candidate,
        now: float,
        last_sample: float,
        silent: bool,
        events: list[FallEvent],
    ) -> None:
        p = self.params
        t = self._t[: self._n]
        a = self._a[: self._n]
        hi = c.t_peak + p.post_s
        lo_i = int(np.searchsorted(t, c.t_peak - p.pre_s))
        hi_i = int(np.searchsorted(t, hi, side="right"))
        tw = t[lo_i:hi_i]
        t_peak = c.t_peak
        if tw.shape[0] > 1 and float(np.max(np.diff(tw))) > STALL_S:
            # A link stall in the window: buffered samples may have arrived in a
            # burst. Re-time them (from further back: they move earlier) first.
            lo_i = int(np.searchsorted(t, c.t_peak - p.pre_s - p.post_s))
            tw = retime_bursts(t[lo_i:hi_i])
            k = int(np.searchsorted(t[lo_i:hi_i], c.t_peak))
            t_peak = float(tw[min(k, tw.shape[0] - 1)])
            tw_lo = int(np.searchsorted(tw, t_peak - p.pre_s))
            lo_i += tw_lo
            tw = tw[tw_lo:]
        # The stream stopped before the window's end: the aftermath is seen in part.
        partial = silent and (
            tw.shape[0] == 0 or t_peak + p.post_s - float(tw[-1]) > p.partial_missing_s
        )
        peak = math.sqrt(c.peak2)
        cf = candidate_features(tw, a[lo_i:hi_i], t_peak, p, peak)
        if cf is None:
            # The stream stopped right after the impact: no basis for a decision. The
            # impact_suspected event (if any) stands; the alarm policy may act on it.
            logger.info("candidate at %.2f s undecidable: no data after it", c.t_peak)
            self._leave_unresolved(c, True, last_sample, events)
            return
        if self.feature_sink is not None:
            self.feature_sink(cf, c.t_peak, peak)
        if self._confirmed is not None:
            return  # one incident until the person is up again (more impacts on the floor)
        if cf.features is None or not (cf.gate or cf.got_up):
            self._leave_unresolved(c, partial, last_sample, events)  # failed the gate
            return
        n_win = hi_i - lo_i
        span = float(t[hi_i - 1] - t[lo_i]) if n_win > 1 else 0.0
        slow = span > 0.0 and (n_win - 1) / span < p.slow_rate_hz
        prob = score_features(cf.features, p)
        need = p.threshold_slow if slow else p.threshold
        if partial:
            need = _raise_odds(need, p.partial_margin_logit)
        model_says = cf.gate and prob >= need
        if not model_says and not cf.got_up:
            self._leave_unresolved(c, partial, last_sample, events)
            return
        if self._was_lying(cf):
            logger.info("candidate at %.2f s: was lying already (roll-over)", c.t_peak)
            self.lying_vetoes += 1
            self._leave_unresolved(c, False, last_sample, events)
            return
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
                orientation_change_deg=math.degrees(
                    cf.angle_rad if model_says else max(cf.angle_rad, cf.held_rad)
                ),
                stillness_g=cf.quiet_g,
            )
        )
        if not model_says:
            self.got_up_confirms += 1
            logger.info("candidate at %.2f s: a fall, and up again at once", c.t_peak)
        self._unresolved = None
        self._confirmed = _Confirmed(
            g0=self._pre_gravity(c.t_peak), impact_time=c.t_peak, peak_g=peak, origin=hi
        )
        logger.info("fall confirmed: impact %.2f s, peak %.1f g, p=%.3f", c.t_peak, peak, prob)

    def _pre_gravity(self, t_peak: float) -> tuple[float, float, float]:
        """Unit gravity direction over [impact - 3 s, impact - 1 s] (raw samples)."""
        t = self._t[: self._n]
        pre_lo = int(np.searchsorted(t, t_peak - 3.0))
        pre_hi = max(pre_lo + 1, int(np.searchsorted(t, t_peak - 1.0)))
        g0 = self._a[pre_lo:pre_hi].mean(axis=0)
        norm = float(np.linalg.norm(g0))
        if norm <= 1e-6 or not math.isfinite(norm):
            return (0.0, 0.0, 1.0)
        gx, gy, gz = (g0 / norm).tolist()
        return (gx, gy, gz)

    def _leave_unresolved(
        self, c: _Candidate, partial: bool, last_sample: float, events: list[FallEvent]
    ) -> None:
        """A candidate not confirmed. A suspected impact whose aftermath was seen is
        dismissed; one the wearable went silent after is judged again when it is back."""
        if not c.suspected:
            return
        if partial:
            self._unresolved = _Unresolved(
                c.t_peak, self._pre_gravity(c.t_peak), math.sqrt(c.peak2), last_sample
            )
            return
        events.append(
            FallEvent(FallEventKind.IMPACT_DISMISSED, self._last_t, c.t_peak, math.sqrt(c.peak2))
        )

    def _judge_unresolved(self, events: list[FallEvent]) -> None:
        """The wearable is back after a silence that cut an impact's aftermath short:
        lying (its first second >= `gate_angle_deg` from the pre-impact posture) is the
        fall confirmed late; otherwise the wearer is up and the impact is dismissed."""
        u = self._unresolved
        assert u is not None
        t = self._t[: self._n]
        lo = int(np.searchsorted(t, u.since, side="right"))
        if lo >= self._n or float(t[-1]) < float(t[lo]) + 1.0:
            return  # less than a second back yet
        hi = int(np.searchsorted(t, float(t[lo]) + 1.0, side="right"))
        self._unresolved = None
        back = self._a[lo:hi].mean(axis=0)
        angle = _vec_angle(np.asarray(u.g0), back)
        p = self.params
        if angle < math.radians(p.gate_angle_deg) or self._confirmed is not None:
            events.append(
                FallEvent(FallEventKind.IMPACT_DISMISSED, self._last_t, u.impact_time, u.peak_g)
            )
            return
        events.append(
            FallEvent(
                FallEventKind.FALL_CONFIRMED,
                time=self._last_t,
                impact_time=u.impact_time,
                peak_g=u.peak_g,
                orientation_change_deg=math.degrees(angle),
            )
        )
        self._confirmed = _Confirmed(
            g0=u.g0, impact_time=u.impact_time, peak_g=u.peak_g, origin=self._last_t
        )
        logger.info("fall confirmed late: impact %.2f s, lying when back", u.impact_time)

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
