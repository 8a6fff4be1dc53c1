"""Features of one candidate impact, measured from the raw samples around it (pure NumPy,
orientation-free), the re-timing of BLE bursts, and the logistic model's score."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.detectors.fall.params import TURN_RATE_S, TURN_SPAN_S, FallParams, G

FloatArray = npt.NDArray[np.float64]


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
