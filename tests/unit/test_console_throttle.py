"""hub.api.throttle: failed logins per key, growing waits, with injected time."""

from __future__ import annotations

import pytest

from hub.api.throttle import LoginThrottle, ThrottlePolicy, ip_key, user_key

JAN = (user_key("jan"), ip_key("10.0.0.5"))


def fail(th: LoginThrottle, keys: tuple[str, ...], now: float, times: int = 1) -> float:
    locked = 0.0
    for _ in range(times):
        assert th.begin(keys, now) == 0.0
        locked = th.failed(keys, now)
    return locked


def test_five_failures_lock_for_30_s_then_the_lock_doubles_up_to_15_min() -> None:
    th = LoginThrottle()
    assert fail(th, JAN, 0.0, 4) == 0.0
    assert th.wait_s(JAN, 0.0) == 0.0
    assert fail(th, JAN, 1.0) == 30.0  # the fifth
    assert th.begin(JAN, 1.0) == 30.0
    assert th.begin(JAN, 30.9) == pytest.approx(0.1)
    now = 31.0
    waits = []
    for _ in range(7):
        waits.append(fail(th, JAN, now))
        now += waits[-1]
    assert waits == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0, 900.0]


def test_refused_attempts_do_not_count_and_do_not_lengthen_the_wait() -> None:
    th = LoginThrottle()
    fail(th, JAN, 0.0, 5)
    for t in range(1, 30):
        assert th.begin(JAN, float(t)) == 30.0 - t
    assert th.begin(JAN, 30.0) == 0.0


def test_failures_older_than_the_window_are_forgotten() -> None:
    th = LoginThrottle()
    fail(th, JAN, 0.0, 4)
    fail(th, JAN, 900.0)  # the first four are exactly 15 min old: out of the window
    assert th.wait_s(JAN, 900.0) == 0.0
    fail(th, JAN, 901.0, 3)
    assert th.wait_s(JAN, 901.0) == 0.0  # four in the window
    assert fail(th, JAN, 902.0) == 30.0


def test_a_key_quiet_for_a_whole_window_starts_over_at_30_s() -> None:
    th = LoginThrottle()
    assert fail(th, JAN, 0.0, 5) == 30.0
    assert fail(th, JAN, 30.0) == 60.0
    now = 90.0 + 900.0  # quiet for 15 min after the lock ended
    assert fail(th, JAN, now, 4) == 0.0
    assert fail(th, JAN, now) == 30.0


def test_after_a_lock_one_attempt_at_a_time() -> None:
    th = LoginThrottle()
    fail(th, JAN, 0.0, 5)
    assert th.begin(JAN, 30.0) == 0.0
    assert th.begin(JAN, 30.0) == 1.0  # the first one's answer decides
    assert th.failed(JAN, 30.0) == 60.0


def test_success_clears_the_username_but_not_the_address() -> None:
    th = LoginThrottle()
    fail(th, JAN, 0.0, 4)
    assert th.begin(JAN, 1.0) == 0.0
    th.succeeded(JAN, clear=JAN[0])
    # The user starts over; the address keeps its four failures: one more locks it.
    assert fail(th, (user_key("piet"), JAN[1]), 2.0) == 30.0
    assert th.wait_s((JAN[0],), 2.0) == 0.0
    assert th.wait_s(JAN, 2.0) == 30.0


def test_one_address_guessing_many_usernames_is_locked() -> None:
    th = LoginThrottle()
    ip = ip_key("192.0.2.7")
    for i in range(5):
        fail(th, (user_key(f"user{i}"), ip), float(i))
    assert th.begin((user_key("someone-else"), ip), 5.0) == 29.0
    # Another address may still try the same usernames.
    assert th.begin((user_key("user0"), ip_key("192.0.2.8")), 5.0) == 0.0


def test_usernames_are_compared_case_insensitively() -> None:
    assert user_key(" Jan ") == user_key("jan")
    th = LoginThrottle()
    for i, name in enumerate(["jan", "JAN", "Jan", "jAn", "jaN"]):
        fail(th, (user_key(name), ip_key(f"10.0.0.{i}")), 0.0)
    assert th.wait_s((user_key("jan"),), 0.0) == 30.0


def test_parallel_attempts_cannot_overtake_the_count() -> None:
    th = LoginThrottle()
    fail(th, JAN, 0.0, 3)
    assert th.begin(JAN, 0.0) == 0.0
    assert th.begin(JAN, 0.0) == 0.0
    assert th.begin(JAN, 0.0) == 1.0  # 3 failures + 2 under way: wait for their answers
    th.abandon(JAN)  # an error is neither a failure nor a success
    assert th.begin(JAN, 0.0) == 0.0
    th.failed(JAN, 0.0)
    th.failed(JAN, 0.0)
    assert th.wait_s(JAN, 0.0) == 30.0


def test_memory_stays_bounded_under_a_username_spray() -> None:
    th = LoginThrottle(ThrottlePolicy(max_keys=100))
    for i in range(1000):
        fail(th, (user_key(f"u{i}"),), float(i))
    assert len(th._keys) <= 101
    assert th.wait_s((user_key("u999"),), 999.0) == 0.0  # one failure, remembered
    assert user_key("u999") in th._keys


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        ThrottlePolicy(max_failures=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        ThrottlePolicy(first_delay_s=60, max_delay_s=30)
