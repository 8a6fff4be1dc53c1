"""edge.watchdog.watchdog_interval: WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled(3)."""

from __future__ import annotations

import pytest

from edge.watchdog import watchdog_interval


def test_half_of_the_timeout() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, pid=42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "42"}, pid=42) == 0.1


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "30s"},
        # meant for another process (this one inherited the environment)
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"},
    ],
)
def test_no_watchdog(env: dict[str, str]) -> None:
    assert watchdog_interval(env, pid=42) is None
