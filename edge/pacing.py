"""A token bucket: at most `rate` events a second, with up to `burst` saved up.

Pure: time comes in as an argument (monotonic seconds), so it is tested with a fake clock.
The publisher paces the replay of readings batches with it (docs/edge.md "Paced replay").
"""

from __future__ import annotations

# Tokens short of a whole one by less than this count as whole: float refills such as
# 0.05 s x 20/s come out a hair under 1.0 and must not cost another wait.
_EPSILON = 1e-9


class TokenBucket:
    """`rate` tokens a second, at most `burst` held; starts full."""

    __slots__ = ("_t", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._t = now

    def _refill(self, now: float) -> None:
        if now > self._t:  # a clock that stands still or steps back adds nothing
            self._tokens = min(float(self.burst), self._tokens + (now - self._t) * self.rate)
            self._t = now

    def available(self, now: float) -> int:
        """Whole tokens at `now`."""
        self._refill(now)
        return int(self._tokens + _EPSILON)

    def take(self, n: int, now: float) -> int:
        """Take up to `n` whole tokens at `now`; how many were granted."""
        granted = min(max(n, 0), self.available(now))
        self._tokens = max(0.0, self._tokens - granted)
        return granted

    def wait_s(self, now: float) -> float:
        """Seconds from `now` until one whole token is there (0 if one is)."""
        self._refill(now)
        missing = 1.0 - _EPSILON - self._tokens
        return max(0.0, missing / self.rate)
