"""Evaluate the fall detector on recorded datasets (the shared .npz format).

Every recording is streamed through the very `FallDetector` the edge runs, in chunks of
about 50 samples like the BLE driver delivers, followed by `advance()` past the end (the
stream stops: the detector decides with the data it has, as it would for a silent
wearable). A fall recording counts as detected when ``fall_confirmed`` fires at least once;
every ``fall_confirmed`` in an ADL recording is a false alarm.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FallDetector, FallEvent, FallEventKind, FallParams

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Chunk size the BLE driver hands to the detector (samples).
CHUNK = 50


#: Where the product's wearable is not worn: the detector is made for the waist and the
#: chest (a wrist's arm gestures are a different problem). Not trained on, and left out of
#: `mz eval fall` unless asked for (`--position all`).
UNSUPPORTED_POSITIONS: tuple[str, ...] = ("WRIST",)


@dataclass(frozen=True, slots=True)
class Recording:
    """One recording of the shared format, with per-sample times in seconds."""

    t: FloatArray  # [n] s since the first sample
    accel: FloatArray  # [n, 3] g
    fs: float
    label: int  # 1 fall, 0 ADL
    code: str
    activity: str
    subject: str
    age_group: str
    position: str
    source: str
    filename: str


def supported(r: Recording) -> bool:
    """Worn where the product's wearable is worn (waist, chest, or not stated)."""
    return r.position.upper() not in UNSUPPORTED_POSITIONS


def load_dataset(path: str | Path) -> list[Recording]:
    """Read a dataset .npz (see shared/datasets/README.md). `t_ms` is used when present."""
    with np.load(path, allow_pickle=False) as z:
        off = z["offsets"]
        accel = z["accel"].astype(np.float64)
        t_ms = z["t_ms"].astype(np.float64) if "t_ms" in z.files else None
        n = len(off) - 1

        def col(name: str, default: str = "") -> list[str]:
            return [str(x) for x in z[name]] if name in z.files else [default] * n

        fs = z["fs"].astype(np.float64)
        label = z["label"].astype(np.int64)
        code, activity, subject = col("code"), col("activity"), col("subject")
        age_group, position = col("age_group", "unknown"), col("position", "unknown")
        source, filename = col("source"), col("filename")
    out: list[Recording] = []
    for i in range(n):
        s = slice(int(off[i]), int(off[i + 1]))
        a = accel[s]
        if t_ms is not None:
            t = t_ms[s] / 1000.0
        else:
            t = np.arange(a.shape[0], dtype=np.float64) / float(fs[i])
        out.append(
            Recording(
                t=t,
                accel=a,
                fs=float(fs[i]),
                label=int(label[i]),
                code=code[i],
                activity=activity[i],
                subject=subject[i],
                age_group=age_group[i],
                position=position[i],
                source=source[i],
                filename=filename[i],
            )
        )
    return out


def downsample(rec: Recording, hz: float, rng: np.random.Generator | None = None) -> Recording:
    """Block-mean `rec` down to about `hz` (an accelerometer's own low-pass + decimation).

    With `rng`, the kept block length varies by one sample now and then and timestamps get
    +-20 % jitter, like a BLE wearable's arrival times.
    """
    if rec.fs <= hz * 1.2:
        return rec
    k = max(1, round(rec.fs / hz))
    n = (rec.accel.shape[0] // k) * k
    a = rec.accel[:n].reshape(-1, k, 3).mean(axis=1)
    t = rec.t[:n].reshape(-1, k)[:, -1].copy()  # a block is known at its last sample
    if rng is not None and t.shape[0] > 2:
        dt = float(np.median(np.diff(t)))
        t = t + rng.uniform(-0.2, 0.2, size=t.shape[0]) * dt
        t = np.maximum.accumulate(t)
        t[1:] = np.maximum(t[1:], t[:-1] + 1e-4)
    return replace(rec, t=t, accel=a, fs=rec.fs / k)


#: BLE link model (measured on umafall-dev.npz arrival times, 20 Hz SensorTag): most
#: intervals are 47-53 ms; ~6 % of samples arrive late by about one interval and the next
#: one follows within a few ms; about one stream in ten has a stall of 0.25-5 s, after
#: which the buffered samples arrive in a burst 2-20 ms apart (or are lost).
BLE_LATE_P = 0.06
BLE_STALL_P = 0.15  # stalls per recording (Poisson mean; measured: ~0.1 at waist/chest)
BLE_STALL_S = (0.25, 5.0)
BLE_COUNTS_PER_G = 2048.0  # +-16 g, 16 bit
BLE_RANGE_G = 16.0


def ble_link(rec: Recording, hz: float, rng: np.random.Generator) -> Recording:
    """`rec` as a ~`hz` BLE wearable would deliver it: block means, +-16 g quantisation
    (2048 counts/g), arrival-time jitter, late samples, stalls with bursts or losses.

    The samples keep their values; only their *timestamps* are arrival times (as in
    UMAFall and as the edge sees them), so bursts compress time and stalls leave gaps.
    """
    r = downsample(rec, hz)
    a = np.clip(np.round(r.accel * BLE_COUNTS_PER_G) / BLE_COUNTS_PER_G, -BLE_RANGE_G, BLE_RANGE_G)
    n = a.shape[0]
    if n < 3:
        return replace(r, accel=a)
    dt = float(np.median(np.diff(r.t)))
    arr = r.t + rng.uniform(0.0, 0.004, n)
    late = np.flatnonzero(rng.random(n) < BLE_LATE_P)
    arr[late] += rng.uniform(0.6, 1.0, late.size) * dt
    keep = np.ones(n, dtype=np.bool_)
    dur = float(r.t[-1] - r.t[0])
    for _ in range(int(rng.poisson(BLE_STALL_P))):
        lo, hi = BLE_STALL_S
        length = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
        start = float(r.t[0]) + float(rng.uniform(0.0, max(dur - length, 0.0)))
        inside = (r.t >= start) & (r.t < start + length)
        if rng.random() < 0.5:
            keep &= ~inside  # lost
        else:  # buffered: delivered in a burst when the link comes back
            idx = np.flatnonzero(inside)
            arr[idx] = start + length + np.cumsum(rng.uniform(0.002, 0.02, idx.size))
    arr = np.maximum.accumulate(arr)
    arr[1:] = np.maximum(arr[1:], arr[:-1] + 1e-4)
    return replace(r, t=arr[keep], accel=a[keep])


#: Where `soften` acts, around the largest |a| of a fall recording (s before, s after).
SOFT_SPAN_S = (1.5, 1.0)
SOFT_TAPER_S = 0.25


def soften(rec: Recording, scale: float, stretch: float = 1.0) -> Recording:
    """A softer and slower copy of a *fall* recording: a stress test, not elderly data.

    Around the fall (`SOFT_SPAN_S` around the largest |a|, tapered over `SOFT_TAPER_S`),
    every sample keeps its direction but its deviation from 1 g is multiplied by `scale`
    (0.5: a 4 g impact reads 2.5 g, a 0.2 g free fall 0.6 g, the descent velocity halves),
    and that stretch of time is slowed down by `stretch` (1.5: the fall takes 50 % longer;
    the rest of the recording shifts later). The result is resampled to the original
    rate. ADL recordings are returned unchanged.
    """
    n = rec.t.shape[0]
    if rec.label != 1 or n < 4:
        return rec
    a = rec.accel
    m = np.sqrt(np.einsum("ij,ij->i", a, a))
    tc = float(rec.t[int(np.nanargmax(m))])
    t0, t1 = tc - SOFT_SPAN_S[0], tc + SOFT_SPAN_S[1]
    w = np.clip(np.minimum(rec.t - (t0 - SOFT_TAPER_S), (t1 + SOFT_TAPER_S) - rec.t), 0.0, None)
    f = 1.0 - (1.0 - scale) * np.minimum(w / SOFT_TAPER_S, 1.0)
    gain = np.where(m > 1e-6, (1.0 + f * (m - 1.0)) / np.maximum(m, 1e-6), 1.0)
    soft = a * gain[:, None]
    if stretch == 1.0:
        return replace(rec, accel=soft)
    # Slow the span down: times inside it are spread `stretch` times wider, later ones
    # shift by the added time; then back onto the recording's own (uniform) rate.
    t = rec.t.copy()
    inside = (rec.t > t0) & (rec.t < t1)
    t[inside] = t0 + (rec.t[inside] - t0) * stretch
    t[rec.t >= t1] += (stretch - 1.0) * (t1 - t0)
    dt = float(np.median(np.diff(rec.t)))
    tu = np.arange(float(t[0]), float(t[-1]) + 1e-9, dt)
    out = np.column_stack([np.interp(tu, t, soft[:, k]) for k in range(3)])
    return replace(rec, t=tu, accel=out)


@dataclass(frozen=True, slots=True)
class RecordingResult:
    rec_index: int
    label: int
    confirmed: int  # number of fall_confirmed events
    cancelled: int  # number of fall_cancelled events (got up again within the recording)
    delay_s: float  # first confirm after the largest-|a| sample (falls), NaN otherwise
    n_samples: int
    duration_s: float
    seconds_cpu: float


def stream(
    det: FallDetector, t: FloatArray, acc: FloatArray, chunk: int = CHUNK
) -> list[FallEvent]:
    """Feed a whole recording in driver-sized chunks, then let time run out."""
    events: list[FallEvent] = []
    for i in range(0, t.shape[0], chunk):
        events.extend(det.update(t[i : i + chunk], acc[i : i + chunk]))
    if t.shape[0]:
        p = det.params
        end = float(t[-1]) + p.peak_search_s + p.post_s + p.partial_wait_s + 0.1
        events.extend(det.advance(end))
    return events


#: Activity codes of plain walking, used as the warm-up of "continuous wear" runs.
WALKING_CODES = ("D01", "Walking")
WARMUP_S = 60.0  # seconds of the wearer's own walking streamed before a recording
WARMUP_GAP_S = 30.0  # pause between the warm-up and the recording


def warmups(recs: Sequence[Recording]) -> dict[tuple[str, str], Recording]:
    """Per (subject, position): the first `WARMUP_S` s of that wearer's first walking
    recording (SisFall D01 "walking slowly", UMAFall "Walking")."""
    out: dict[tuple[str, str], Recording] = {}
    for code in WALKING_CODES:
        for r in sorted(recs, key=lambda r: r.filename):
            key = (r.subject, r.position.upper())
            if r.code == code and key not in out:
                n = int(np.searchsorted(r.t, r.t[0] + WARMUP_S))
                out[key] = replace(r, t=r.t[:n], accel=r.accel[:n])
    return out


def run_recordings(
    recs: Sequence[Recording],
    params: FallParams,
    progress: Callable[[int], None] | None = None,
    warmup: Callable[[Recording], Recording | None] | None = None,
) -> list[RecordingResult]:
    """Stream every recording through a fresh detector and score it.

    With `warmup`, a detector first streams the returned recording (the wearer walking:
    "continuous wear", so the detector knows this wearer's upright, as it would after
    any walk in real use), then a pause, then the recording; only the recording's events
    and cost count.
    """
    out: list[RecordingResult] = []
    for i, r in enumerate(recs):
        det = FallDetector(params)
        w = warmup(r) if warmup is not None else None
        if w is not None and w.t.shape[0]:
            stream(det, w.t - w.t[-1] - WARMUP_GAP_S + r.t[0], w.accel)
        t0 = time.perf_counter()
        ev = stream(det, r.t, r.accel)
        cpu = time.perf_counter() - t0
        conf = [e for e in ev if e.kind is FallEventKind.FALL_CONFIRMED]
        delay = math.nan
        if r.label == 1 and conf:
            m2 = np.einsum("ij,ij->i", r.accel, r.accel)
            t_max = float(r.t[int(np.nanargmax(m2))])
            delay = conf[0].time - t_max
        dur = float(r.t[-1] - r.t[0]) if r.t.shape[0] > 1 else 0.0
        canc = sum(1 for e in ev if e.kind is FallEventKind.FALL_CANCELLED)
        out.append(RecordingResult(i, r.label, len(conf), canc, delay, r.t.shape[0], dur, cpu))
        if progress is not None:
            progress(1)
    return out


def _metrics(res: Iterable[RecordingResult]) -> dict[str, Any]:
    rs = list(res)
    falls = [r for r in rs if r.label == 1]
    adls = [r for r in rs if r.label == 0]
    tp = sum(1 for r in falls if r.confirmed > 0)
    tn = sum(1 for r in adls if r.confirmed == 0)
    adl_h = sum(r.duration_s for r in adls) / 3600.0
    fa = sum(r.confirmed for r in adls)
    delays = [r.delay_s for r in falls if not math.isnan(r.delay_s)]
    return {
        "recordings": len(rs),
        "falls": len(falls),
        "adls": len(adls),
        "detected": tp,
        "false_alarm_recordings": len(adls) - tn,
        "false_alarms": fa,
        "sensitivity": tp / len(falls) if falls else None,
        "specificity": tn / len(adls) if adls else None,
        "accuracy": (tp + tn) / len(rs) if rs else None,
        "adl_hours": adl_h,
        "false_alarms_per_hour": fa / adl_h if adl_h > 0 else None,
        # false confirms the detector itself withdrew (posture back to the pre-event one)
        # before the recording ended: the alarm policy raises nothing for these when that
        # happens within its cancel window (30 s).
        "false_alarms_self_cancelled": sum(min(r.confirmed, r.cancelled) for r in adls),
        "delay_median_s": float(np.median(delays)) if delays else None,
        "delay_p95_s": float(np.percentile(delays, 95)) if delays else None,
    }


def summarize(
    recs: Sequence[Recording], res: Sequence[RecordingResult], by: str | None = None
) -> dict[str, Any]:
    """Overall metrics, worst activities, cost and (optionally) a breakdown by a column."""
    out = _metrics(res)
    n = sum(r.n_samples for r in res)
    cpu = sum(r.seconds_cpu for r in res)
    out["us_per_sample"] = 1e6 * cpu / n if n else None
    out["samples"] = n
    per_code: dict[str, list[RecordingResult]] = defaultdict(list)
    for r in res:
        per_code[recs[r.rec_index].code].append(r)
    worst: list[dict[str, Any]] = []
    for code, rr in per_code.items():
        lab = rr[0].label
        wrong = sum(1 for r in rr if (r.confirmed > 0) != (lab == 1))
        if wrong:
            worst.append(
                {
                    "code": code,
                    "activity": recs[rr[0].rec_index].activity,
                    "label": "fall" if lab else "adl",
                    "wrong": wrong,
                    "of": len(rr),
                }
            )
    worst.sort(key=lambda d: (-d["wrong"] / d["of"], -d["wrong"]))
    out["worst"] = worst[:8]
    if by:
        groups: dict[str, list[RecordingResult]] = defaultdict(list)
        for r in res:
            groups[str(getattr(recs[r.rec_index], by))].append(r)
        out["by"] = {by: {k: _metrics(v) for k, v in sorted(groups.items())}}
    return out
