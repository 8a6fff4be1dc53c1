"""After a confirmed fall: the watch for the wearer getting up (`fall_cancelled`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.detectors.fall.events import FallEvent, FallEventKind
from edge.detectors.fall.params import FallParams

FloatArray = npt.NDArray[np.float64]

RECOVER_BLOCK_S = 0.5  # posture is judged on 0.5 s means after a fall (smooths walking)


@dataclass(slots=True)
class RecoveryWatch:
    """One confirmed fall, until the wearer is up again."""

    g0: tuple[float, float, float]  # pre-fall gravity direction (unit vector)
    impact_time: float
    peak_g: float
    origin: float  # recovery is watched from here (the decision's window end), s
    block: int = 0  # current RECOVER_BLOCK_S block since origin
    block_sum: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    block_n: int = 0
    upright_since: float | None = None

    def feed(self, t: FloatArray, a: FloatArray, p: FallParams) -> FallEvent | None:
        """Watch for getting up in fixed 0.5 s blocks of mean acceleration after the fall;
        returns the ``fall_cancelled`` event once the wearer is up (then the watch is over).

        Fixed blocks (not chunks) keep the result independent of how the driver chunks;
        a block's mean smooths out walking, so "upright" means the trunk is back within
        `recover_angle_deg` of its pre-fall orientation for `recover_s`.
        """
        b = np.floor((t - self.origin) / RECOVER_BLOCK_S).astype(np.intp)
        i = int(np.searchsorted(b, 0))  # samples before the origin were judged already
        if i >= b.shape[0]:
            return None
        b = b[i:]
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        sums = np.add.reduceat(a[i:], starts, axis=0).tolist()
        counts = np.diff(np.r_[starts, b.shape[0]]).tolist()
        for k, sm, n in zip(b[starts].tolist(), sums, counts, strict=True):
            if k != self.block:
                up = self._close_block(p)
                if up is not None:
                    return up
                self.block, self.block_n, self.block_sum = k, 0, [0.0, 0.0, 0.0]
            self.block_sum = [
                self.block_sum[0] + sm[0],
                self.block_sum[1] + sm[1],
                self.block_sum[2] + sm[2],
            ]
            self.block_n += n
        return None

    def _close_block(self, p: FallParams) -> FallEvent | None:
        if self.block_n == 0:
            return None  # a gap tells nothing about posture
        blk = RECOVER_BLOCK_S
        mx, my, mz = self.block_sum
        norm = math.sqrt(mx * mx + my * my + mz * mz)
        cos_lim = math.cos(math.radians(p.recover_angle_deg))
        start = self.origin + self.block * blk
        g0 = self.g0
        if norm < 1e-6 or (mx * g0[0] + my * g0[1] + mz * g0[2]) / norm < cos_lim:
            self.upright_since = None
            return None
        if self.upright_since is None:
            self.upright_since = start
        end = start + blk
        if end - self.upright_since >= p.recover_s - 1e-9:
            return FallEvent(
                FallEventKind.FALL_CANCELLED,
                time=end,
                impact_time=self.impact_time,
                peak_g=self.peak_g,
            )
        return None
