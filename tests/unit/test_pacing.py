"""The token bucket that paces the readings replay (time injected)."""

from __future__ import annotations

import pytest

from edge.pacing import TokenBucket


def test_starts_full_then_refills_at_the_rate_up_to_the_burst() -> None:
    b = TokenBucket(rate=20, burst=10, now=100.0)
    assert b.take(15, 100.0) == 10  # the burst at once
    assert b.take(1, 100.0) == 0
    assert b.wait_s(100.0) == pytest.approx(0.05)
    assert b.take(5, 100.05) == 1
    assert b.take(100, 101.05) == 10  # one idle second saves up 20, kept: 10
    assert b.available(1000.0) == 10


def test_sustained_rate_over_a_long_replay() -> None:
    b = TokenBucket(rate=20, burst=10, now=0.0)
    sent = b.take(1000, 0.0)
    for k in range(1, 6001):  # ten minutes in steps of 0.1 s, always wanting more
        sent += b.take(1000, k * 0.1)
    assert sent == 10 + 20 * 600


def test_a_clock_that_stands_still_or_steps_back_adds_nothing() -> None:
    b = TokenBucket(rate=20, burst=10, now=50.0)
    b.take(10, 50.0)
    assert b.take(1, 40.0) == 0
    assert b.take(1, 50.0) == 0
    assert b.take(1, 50.05) == 1


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=10, now=0.0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0, now=0.0)
