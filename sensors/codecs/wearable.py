"""BLE wearable accelerometer notification frame: encode and decode (pure).

The wearable notifies a GATT characteristic with a burst of 3-axis samples. One frame,
all fields little-endian:

| offset | type      | field        | meaning                                                  |
|--------|-----------|--------------|----------------------------------------------------------|
| 0      | u8        | version      | `VERSION` (1)                                            |
| 1      | u16       | sequence     | frame counter, wraps at 65536 (gaps = lost frames)       |
| 3      | u32       | t0_ms        | device clock of the first sample, ms, wraps at 2^32      |
| 7      | u16       | interval     | sample interval in units of 10 us (200 Hz = 500)         |
| 9      | u8        | n            | samples in the frame, 1..`MAX_SAMPLES`                   |
| 10     | u8        | range code   | 0: +-2 g, 1: +-4 g, 2: +-8 g, 3: +-16 g                  |
| 11     | n x 3 i16 | x, y, z      | counts; 32768 counts = full range (+-16 g: 2048 counts/g) |

Sample i was taken at t0_ms + i * interval (device clock), so per-sample times survive
the BLE link's jitter. 11 + 6 n bytes: `MAX_SAMPLES` = 38 fills one notification at the
usual 247-byte ATT MTU (244 bytes of payload). A value at the end of the range means the
sensor saturated (the frame carries it as is).

`decode_frame` raises `sensors.errors.DecodeError` on anything malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from sensors.errors import DecodeError

DEVICE_KIND: Final = "wearable"
VERSION: Final = 1
MAX_SAMPLES: Final = 38
INTERVAL_UNIT_S: Final = 1e-5  # the interval field counts 10 us
_HEADER: Final = struct.Struct("<BHIHBB")
HEADER_SIZE: Final = _HEADER.size  # 11
RANGES_G: Final[tuple[int, ...]] = (2, 4, 8, 16)
COUNTS_FULL_SCALE: Final = 32768  # int16: +-range_g maps to +-32768 counts


@dataclass(frozen=True, slots=True)
class AccelFrame:
    """One decoded notification: raw counts plus what is needed to turn them into g."""

    sequence: int  # 0..65535
    t0_ms: int  # device clock of sample 0, ms (0..2^32-1)
    interval_10us: int  # sample interval, 10 us units (1..65535)
    range_g: int  # 2, 4, 8 or 16
    counts: tuple[tuple[int, int, int], ...]  # n samples of (x, y, z) int16 counts

    @property
    def counts_per_g(self) -> float:
        return COUNTS_FULL_SCALE / self.range_g

    @property
    def interval_s(self) -> float:
        return self.interval_10us * INTERVAL_UNIT_S

    def accel_g(self) -> npt.NDArray[np.float64]:
        """[n, 3] acceleration in g."""
        return np.asarray(self.counts, dtype=np.float64).reshape(-1, 3) / self.counts_per_g

    def offsets_s(self) -> npt.NDArray[np.float64]:
        """[n] time of each sample after sample 0, s."""
        return np.arange(len(self.counts), dtype=np.float64) * self.interval_s


def encode_frame(frame: AccelFrame) -> bytes:
    """Bytes the wearable sends for `frame` (validated like `decode_frame`)."""
    n = len(frame.counts)
    _check(frame.sequence, frame.t0_ms, frame.interval_10us, n, frame.range_g)
    head = _HEADER.pack(
        VERSION,
        frame.sequence,
        frame.t0_ms,
        frame.interval_10us,
        n,
        RANGES_G.index(frame.range_g),
    )
    flat = [c for xyz in frame.counts for c in xyz]
    if len(flat) != 3 * n:
        raise ValueError("every sample needs 3 counts")
    try:
        body = struct.pack(f"<{3 * n}h", *flat)
    except struct.error as exc:
        raise ValueError(f"count out of int16 range: {exc}") from exc
    return head + body


def decode_frame(data: bytes) -> AccelFrame:
    """Parse one notification. Raises DecodeError on malformed bytes."""
    if len(data) < HEADER_SIZE:
        raise DecodeError(DEVICE_KIND, f"frame of {len(data)} bytes is shorter than the header")
    version, seq, t0_ms, interval, n, range_code = _HEADER.unpack_from(data)
    if version != VERSION:
        raise DecodeError(DEVICE_KIND, f"unknown frame version {version}")
    if range_code >= len(RANGES_G):
        raise DecodeError(DEVICE_KIND, f"unknown range code {range_code}")
    if not 1 <= n <= MAX_SAMPLES:
        raise DecodeError(DEVICE_KIND, f"sample count {n} outside 1..{MAX_SAMPLES}")
    if interval == 0:
        raise DecodeError(DEVICE_KIND, "sample interval 0")
    expected = HEADER_SIZE + 6 * n
    if len(data) != expected:
        raise DecodeError(DEVICE_KIND, f"{len(data)} bytes for {n} samples (want {expected})")
    flat = struct.unpack_from(f"<{3 * n}h", data, HEADER_SIZE)
    counts = tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))
    return AccelFrame(seq, t0_ms, interval, RANGES_G[range_code], counts)


def frame_from_g(
    sequence: int,
    t0_ms: int,
    interval_s: float,
    accel_g: npt.ArrayLike,
    range_g: int = 16,
) -> AccelFrame:
    """Quantise [n, 3] g to counts as the sensor does (rounding, clipping at full scale)."""
    a = np.asarray(accel_g, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(a).all():
        raise ValueError("acceleration must be finite (a sensor cannot report NaN)")
    cpg = COUNTS_FULL_SCALE / range_g
    c = np.clip(np.rint(a * cpg), -32768, 32767).astype(np.int64)
    counts = tuple((int(x), int(y), int(z)) for x, y, z in c)
    interval = round(interval_s / INTERVAL_UNIT_S)
    return AccelFrame(sequence % 65536, t0_ms % 2**32, interval, range_g, counts)


def _check(seq: int, t0_ms: int, interval: int, n: int, range_g: int) -> None:
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence {seq} outside u16")
    if not 0 <= t0_ms <= 0xFFFFFFFF:
        raise ValueError(f"t0_ms {t0_ms} outside u32")
    if not 1 <= interval <= 0xFFFF:
        raise ValueError(f"interval {interval} outside 1..65535 (10 us units)")
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"{n} samples outside 1..{MAX_SAMPLES}")
    if range_g not in RANGES_G:
        raise ValueError(f"range {range_g} g not one of {RANGES_G}")


@dataclass
class DeviceClock:
    """Turns a frame's wrapping u32 ms clock into continuous seconds (per wearable).

    The first frame sets the origin (0 s); later frames may wrap (every 49.7 days).
    """

    _last_ms: int | None = None
    _wraps: int = 0
    _origin_ms: int = 0

    def seconds(self, t0_ms: int) -> float:
        if self._last_ms is None:
            self._origin_ms = t0_ms
        elif t0_ms < self._last_ms and self._last_ms - t0_ms > 2**31:
            self._wraps += 1  # the counter wrapped, not a reordered frame
        self._last_ms = t0_ms
        return (t0_ms + self._wraps * 2**32 - self._origin_ms) / 1000.0

    def sample_times(self, frame: AccelFrame) -> npt.NDArray[np.float64]:
        """[n] per-sample times in s on the continuous device clock."""
        return self.seconds(frame.t0_ms) + frame.offsets_s()
