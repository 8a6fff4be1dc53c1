"""A simulated wearable that streams all day: idle wear, with recorded activities on cue.

A real wearable notifies its accelerometer continuously, not only during the seconds of a
recording. `StreamingWearable` therefore sends "worn, not moving much" samples (the last
posture plus 5 mg of sensor noise) between recordings, and a recording when the scenario
plays one (`play`). Recordings go through `simulators.devices.wearable.WearableReplay`,
i.e. through the real wearable codec, with one continuous device clock and one frame
sequence, so the edge sees a single unbroken stream, exactly as from the GATT driver.

Recorded physics cannot be sped up: a recording always plays in real time, whatever the
scenario's speed (only its start is scheduled on the scenario's timeline).

Pure: `frames_until(now)` is called with the time; no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Final

import numpy as np
import numpy.typing as npt

from sensors.codecs.wearable import decode_frame, encode_frame, frame_from_g
from simulators.devices.wearable import ReplayRecording, WearableReplay

FloatArray = npt.NDArray[np.float64]

# SisFall's waist device reads about (0, -1, 0) g standing upright (y points down).
UPRIGHT: Final = (0.0, -1.0, 0.0)
NOISE_G: Final = 0.005  # a worn but motionless sensor: 5 mg RMS
DEVICE_CLOCK_MS0: Final = 1_000_000


class StreamingWearable:
    def __init__(
        self,
        device_id: str,
        address: str,
        *,
        fs: float = 50.0,
        samples_per_frame: int = 10,
        posture: tuple[float, float, float] = UPRIGHT,
        seed: int = 0,
    ) -> None:
        self.id = device_id
        self.address = address.upper()
        self.fs = fs
        self.samples_per_frame = samples_per_frame
        self._posture = np.asarray(posture, dtype=np.float64)
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._origin: float | None = None  # wall time of device clock DEVICE_CLOCK_MS0
        self._cursor: float | None = None  # samples exist up to (excluding) this time
        self._sequence = 0
        self._pending: deque[tuple[float, bytes]] = deque()
        self._scheduled: list[tuple[float, ReplayRecording]] = []
        self.played: list[str] = []  # "F05/SA01" of each recording started
        self.sent = 0

    def play(self, recording: ReplayRecording, at: float) -> None:
        """Start `recording` at time `at` (its first sample is taken then)."""
        self._scheduled.append((at, recording))
        self._scheduled.sort(key=lambda x: x[0])

    @property
    def playing(self) -> bool:
        return bool(self._pending) or bool(self._scheduled)

    def frames_until(self, now: float) -> list[bytes]:
        """The notifications whose arrival time is <= `now`, in order."""
        if self._origin is None:
            self._origin = self._cursor = now
        assert self._cursor is not None
        while self._scheduled and self._scheduled[0][0] <= now:
            at, rec = self._scheduled.pop(0)
            start = max(at, self._cursor)
            self._idle(start)
            self._replay(rec, start)
        self._idle(now)
        out: list[bytes] = []
        while self._pending and self._pending[0][0] <= now:
            out.append(self._pending.popleft()[1])
        self.sent += len(out)
        return out

    # -- internals -------------------------------------------------------------------

    def _device_ms(self, t: float) -> int:
        assert self._origin is not None
        return DEVICE_CLOCK_MS0 + round(1000.0 * (t - self._origin))

    def _push(self, arrival: float, data: bytes) -> None:
        # One frame sequence for the whole stream (each replay would start its own at 0).
        frame = dataclasses.replace(decode_frame(data), sequence=self._sequence)
        self._sequence = (self._sequence + 1) % 65536
        self._pending.append((arrival, encode_frame(frame)))

    def _idle(self, until: float) -> None:
        """Motionless wear from the cursor up to `until`, in whole frames."""
        assert self._cursor is not None
        dt = 1.0 / self.fs
        span = self.samples_per_frame * dt
        while self._cursor + span <= until:
            t0 = self._cursor
            a = self._posture + self._rng.normal(0.0, NOISE_G, size=(self.samples_per_frame, 3))
            frame = frame_from_g(0, self._device_ms(t0), dt, a)
            self._push(t0 + span + 0.03, encode_frame(frame))  # 30 ms notification latency
            self._cursor = t0 + span

    def _replay(self, rec: ReplayRecording, start: float) -> None:
        replay = WearableReplay(
            rec,
            start=start,
            samples_per_frame=self.samples_per_frame,
            device_clock_ms=self._device_ms(start),
            seed=self._seed,
        )
        for arrival, data in replay.frames():
            self._push(arrival, data)
        self.played.append(f"{rec.code}/{rec.subject}")
        self.fs = rec.fs
        t, a = rec.t, rec.accel
        if t.size:
            tail = a[(t >= t[-1] - 1.0) & np.isfinite(a).all(axis=1)]
            if tail.size:
                self._posture = tail.mean(axis=0)  # lie (or stand) as the recording ended
            self._cursor = start + float(t[-1]) + 1.0 / rec.fs
