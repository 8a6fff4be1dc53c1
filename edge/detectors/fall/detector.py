"""The streaming `FallDetector`: buffer, candidates, decisions, recovery watch, and the
per-wearer upright reference (see the package docstring for how it works)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detectors.fall.events import FallEvent, FallEventKind
from edge.detectors.fall.features import (
    STALL_S,
    CandidateFeatures,
    _raise_odds,
    _vec_angle,
    candidate_features,
    retime_bursts,
    score_features,
)
from edge.detectors.fall.params import FallParams, load_params
from edge.detectors.fall.recovery import RecoveryWatch

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

CLOCK_RESET_S = 60.0  # a chunk starting this far before the last sample: clock restarted

#: Walking-like upright block: SD of |a|^2 (g^2) between these. A criterion on the
#: vector's total variance instead learnt a lying "upright" from moving on the mat after a
#: fall (SisFall F11) and sitting ones (D07): |a| must vary, not only its direction.
WALK_SD = (0.1, 1.5)


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
        self._confirmed: RecoveryWatch | None = None
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
            up = self._confirmed.feed(tt, aa, self.params)
            if up is not None:
                events.append(up)
                self._confirmed = None
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
        self._confirmed = RecoveryWatch(
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
        self._confirmed = RecoveryWatch(
            g0=u.g0, impact_time=u.impact_time, peak_g=u.peak_g, origin=self._last_t
        )
        logger.info("fall confirmed late: impact %.2f s, lying when back", u.impact_time)
