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


def test_default_reconnect_delays_stay_a_few_seconds_inside_the_hubs_timeout() -> None:
    """After any outage the edge tries again within 5 s (so a returned network finds it
    back within seconds), jittered so that dwellings do not reconnect in lockstep."""
    from edge.config import EdgeSettings
    from hub.config import PresenceSettings
    from hub.presence import DEFAULT_HEARTBEAT_S

    fields = EdgeSettings.model_fields
    lo, hi = fields["reconnect_min_s"].default, fields["reconnect_max_s"].default
    assert hi <= 5.0
    # Worst case after the network's return: a connect attempt timing out, then the cap;
    # both well inside the hub's offline timeout, so the return clears the alarm.
    timeout_s = PresenceSettings().heartbeat_factor * DEFAULT_HEARTBEAT_S
    assert fields["connect_timeout_s"].default + hi < timeout_s / 3
    b = Backoff(lo, hi, rng=random.Random(7))
    delays = [b.next() for _ in range(500)]  # a long outage
    assert max(delays) <= hi
    assert min(delays[10:]) >= hi / 2
    assert len(set(delays)) == len(delays)
    b.reset()  # a connection that carried the online status
    assert b.next() <= lo
