"""Jittered exponential backoff, shared by driver supervision and MQTT reconnects."""

from __future__ import annotations

import random


class Backoff:
    """Delays min, 2*min, 4*min ... capped at max, each scaled by a random 0.5..1.0.

    "Equal jitter": never zero (no hot loop against a dead broker), and spread out so a
    region of dwellings coming back after a broker outage does not reconnect in lockstep.
    """

    __slots__ = ("_attempt", "_rng", "max_s", "min_s")

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._attempt = 0
        self._rng = rng or random.Random()  # jitter, not cryptography

    def next(self) -> float:
        base = min(self.max_s, self.min_s * (2.0 ** min(self._attempt, 30)))
        self._attempt += 1
        return base * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0
