"""hub.api.throttle.MemoryLoginLimiter: device cookies, per-user slow-down, per-address
lockout, with injected time. The probe's finding: anyone who could reach /login kept a
known operator locked out by failing logins for that username."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.api.throttle import Admission, Attempt, LoginLimiter, MemoryLoginLimiter
from hub.login_throttle_store import shared_login_limiter
from hub.sql.schema import open_store

WORKSTATION = Attempt("jan", "10.0.0.5", device="dev-jan-workstation")
NEW_PC = Attempt("jan", "10.0.0.77")


def attacker(i: int, username: str = "jan") -> Attempt:
    return Attempt(username, f"203.0.113.{i % 250}")


def fail(lim: MemoryLoginLimiter, a: Attempt, now: float) -> Admission:
    admitted = lim.admit(a, now)
    assert admitted.refused_s == 0.0
    return lim.failed(a, now + admitted.delay_s)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def lim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryLoginLimiter]:
    """The console's limiter in memory, and on the shared store of either backend (every
    hub worker then counts the same failures)."""
    if request.param == "memory":
        yield MemoryLoginLimiter()
        return
    url = (
        f"sqlite:///{tmp_path / 'hub.sqlite'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    engine = open_store(url)
    yield shared_login_limiter(engine, clock=lambda: 0.0)
    engine.dispose()


def test_is_a_login_limiter() -> None:
    typed: LoginLimiter = MemoryLoginLimiter()
    assert isinstance(typed, MemoryLoginLimiter)


def test_an_attacker_hammering_a_username_never_locks_out_its_trusted_device(
    lim: MemoryLoginLimiter,
) -> None:
    now = 0.0
    for i in range(2000):  # from many addresses, each below its own lockout
        admitted = lim.admit(attacker(i), now)
        now += admitted.delay_s
        if admitted.refused_s == 0.0:
            lim.failed(attacker(i), now)
        now += 0.5
    assert lim.admit(WORKSTATION, now) == Admission()  # no wait, no slow-down
    lim.succeeded(WORKSTATION)


def test_a_new_workstation_is_slowed_down_at_most_20_s_never_refused(
    lim: MemoryLoginLimiter,
) -> None:
    now = 0.0
    delays = []
    for i in range(200):
        a = attacker(i)
        admitted = lim.admit(a, now)
        assert admitted.refused_s == 0.0  # 200 addresses: none locked by itself
        delays.append(admitted.delay_s)
        now += admitted.delay_s
        lim.failed(a, now)
        now += 1.0
    assert delays[:5] == [0.0] * 5 and max(delays) == 19.0  # the 20 s lock, 1 s later
    admitted = lim.admit(NEW_PC, now)
    assert admitted.refused_s == 0.0 and 0 < admitted.delay_s <= 20.0
    lim.succeeded(NEW_PC)
    assert lim.admit(NEW_PC, now + admitted.delay_s) == Admission()  # cleared by the login


def test_the_slow_down_grows_2_4_8_16_20(lim: MemoryLoginLimiter) -> None:
    caused = [fail(lim, attacker(i), float(i * 100)).delay_s for i in range(10)]
    assert caused == [0.0, 0.0, 0.0, 0.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_one_address_is_refused_after_five_failures_whatever_the_username(
    lim: MemoryLoginLimiter,
) -> None:
    for name in ["anna", "bob", "carla", "dirk", "eva"]:
        fail(lim, Attempt(name, "198.51.100.9"), 0.0)
    assert lim.admit(Attempt("jan", "198.51.100.9"), 1.0).refused_s == 29.0
    assert lim.admit(Attempt("jan", "198.51.100.10"), 1.0) == Admission()  # not jan's fault


def test_failures_with_a_device_cookie_lock_that_device_only(lim: MemoryLoginLimiter) -> None:
    for t in range(5):
        fail(lim, WORKSTATION, float(t))
    assert lim.admit(WORKSTATION, 5.0).refused_s == pytest.approx(29.0)
    other = Attempt("jan", "10.0.0.5", device="dev-jan-laptop")  # same address, own cookie
    assert lim.admit(other, 5.0) == Admission()
    lim.succeeded(other)
    # ...and they did not count against the address or the username.
    assert lim.admit(Attempt("jan", "10.0.0.5"), 5.0) == Admission()


def test_overlapping_attempts_under_a_long_attack_stay_within_20_s(lim: MemoryLoginLimiter) -> None:
    # 50 attackers at a time, each attempt sitting out its slow-down; 10,000 failures.
    in_flight: list[tuple[float, Attempt]] = []
    now, worst = 0.0, 0.0
    for i in range(10_000):
        a = attacker(i, "jan")
        admitted = lim.admit(a, now)
        worst = max(worst, admitted.delay_s)
        if admitted.refused_s == 0.0:
            in_flight.append((now + admitted.delay_s, a))
        if len(in_flight) >= 50:
            in_flight.sort(key=lambda x: x[0])
            done_at, done = in_flight.pop(0)
            now = max(now, done_at)
            lim.failed(done, now)
        now += 0.01
    assert worst <= 20.0
    assert 0 < lim.admit(NEW_PC, now).delay_s <= 20.0


def test_parallel_untrusted_attempts_are_slowed_down_not_let_through_at_once(
    lim: MemoryLoginLimiter,
) -> None:
    for i in range(4):
        fail(lim, attacker(i), 0.0)
    running = [attacker(10 + i) for i in range(3)]
    delays = [lim.admit(a, 1.0).delay_s for a in running]
    assert delays[0] == 0.0 and all(d >= 1.0 for d in delays[1:])
    for a in running:
        lim.abandon(a)
    assert lim.admit(attacker(20), 1.0) == Admission()
