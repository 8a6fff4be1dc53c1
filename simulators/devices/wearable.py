"""A simulated BLE wearable that replays recorded accelerometer data as real frames.

`WearableReplay` takes one recording (per-sample times and g) and yields
``(arrival_time, frame_bytes)`` pairs encoded with `sensors.codecs.wearable`, so the
edge's driver and decoder see exactly what a real wearable would send. The demo's fall
scenario is therefore a real recorded fall (`simulators.datasets.select_recording` picks
one from the shared dataset format by code, subject, trial, label and index).

Pure: no clock, no I/O.
Arrival times are `start + device time of the frame's last sample + link delay`, with an
optional deterministic jitter; `hold_s` keeps the wearer lying still after the recording
ends (the last second's posture plus sensor noise), for long-lie demos.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensors.codecs.wearable import MAX_SAMPLES, encode_frame, frame_from_g

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ReplayRecording:
    """What the replay needs from a dataset recording."""

    t: FloatArray  # [n] s from the first sample
    accel: FloatArray  # [n, 3] g
    fs: float  # nominal rate, Hz
    label: int  # 1 fall, 0 ADL
    code: str
    subject: str
    activity: str = ""


@dataclass
class WearableReplay:
    """Replays one recording as BLE notification frames.

    The wearable samples at the recording's nominal rate; a frame carries
    `samples_per_frame` samples and the device time of its first one. Samples missing in
    the recording (NaN, as after a dropped stretch) are skipped and start a new frame, so
    the frame's uniform-interval times stay true.
    """

    recording: ReplayRecording
    start: float = 0.0  # arrival-clock time of the recording's first sample, s
    samples_per_frame: int = 10  # ~50 ms at 200 Hz; the driver re-chunks
    link_delay_s: float = 0.03  # notification latency
    jitter_s: float = 0.0  # extra uniform 0..jitter delay per frame (deterministic by seed)
    device_clock_ms: int = 1_000_000  # device clock at the first sample
    hold_s: float = 0.0  # keep lying still this long after the recording
    range_g: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.samples_per_frame <= MAX_SAMPLES:
            raise ValueError(f"samples_per_frame must be 1..{MAX_SAMPLES}")

    def samples(self) -> tuple[FloatArray, FloatArray]:
        """Device times (s from the first sample) and g of everything that is sent."""
        r = self.recording
        t, a = r.t, r.accel
        if self.hold_s > 0 and t.size:
            rng = np.random.default_rng(self.seed + 1)
            dt = 1.0 / r.fs
            tail = a[t >= t[-1] - 1.0]
            still = np.nanmean(tail, axis=0) if tail.size else np.array([0.0, 0.0, 1.0])
            n = int(self.hold_s * r.fs)
            th = t[-1] + dt * np.arange(1, n + 1)
            # 5 mg of sensor noise: a person lying still, not a frozen signal.
            ah = still + rng.normal(0.0, 0.005, size=(n, 3))
            t, a = np.concatenate((t, th)), np.vstack((a, ah))
        return t, a

    def frames(self) -> Iterator[tuple[float, bytes]]:
        """(arrival time s, frame bytes), in arrival order."""
        r = self.recording
        t, a = self.samples()
        rng = np.random.default_rng(self.seed)
        interval = 1.0 / r.fs
        finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(a).all(axis=1))
        seq = 0
        i = 0
        n = t.size
        last_arrival = -np.inf
        while i < n:
            if not finite[i]:
                i += 1
                continue
            j = i + 1
            # Extend the frame while samples are finite and roughly on the nominal grid
            # (recorded BLE arrival times jitter; a gap over 2.5 intervals is a dropped
            # stretch and starts a new frame with its own t0).
            while (
                j < n
                and j - i < self.samples_per_frame
                and finite[j]
                and t[j] - t[j - 1] < 2.5 * interval
            ):
                j += 1
            t0_ms = self.device_clock_ms + round(1000.0 * float(t[i]))
            frame = frame_from_g(seq, t0_ms, interval, a[i:j], self.range_g)
            arrival = self.start + float(t[j - 1]) + self.link_delay_s
            if self.jitter_s > 0:
                arrival += float(rng.uniform(0.0, self.jitter_s))
            # BLE notifications on one connection arrive in order.
            arrival = max(arrival, last_arrival)
            last_arrival = arrival
            yield arrival, encode_frame(frame)
            seq = (seq + 1) % 65536
            i = j
