"""Jittered exponential backoff."""

from __future__ import annotations

import random

from edge.backoff import Backoff


def test_grows_caps_jitters_and_resets() -> None:
    b = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= d <= base  # "equal jitter": never zero, never above the cap
    assert len(set(delays)) == len(delays)  # jittered: dwellings do not retry in lockstep
    b.reset()
    assert 0.5 <= b.next() <= 1.0


def test_many_attempts_do_not_overflow() -> None:
    b = Backoff(0.1, 60.0)
    for _ in range(10_000):
        assert b.next() <= 60.0
