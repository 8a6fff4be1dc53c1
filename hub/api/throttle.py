"""Login throttling: too many failed logins for one key (a username, a client IP, a
trusted device) and that key has to wait, longer each time. Pure: time comes in as
`now`; no I/O.

`LoginLimiter` is what the console uses (one attempt in, an `Admission` out);
`MemoryLoginLimiter` implements it with three `LoginThrottle`s, after OWASP's "device
cookies": an attempt that comes with a valid device cookie for its username (the browser
logged in as that user before) is counted against that device only, so nobody elsewhere
can lock the operator out at their usual workstation. Any other attempt is counted
against its client address (refused while locked) and against the username, where the
lock is a slow-down only: the password is checked after at most `user.max_delay_s`, so
a known operator on a new workstation gets in, late, however hard somebody else is
guessing their password.

Per key: failures within `window_s` are counted. The `max_failures`-th one locks the
key for `first_delay_s`; after that, every failure locks it again for twice as long as
the previous lock, up to `max_delay_s`, until the key has been quiet (no failure, no
lock) for a whole `window_s`; then it starts over. Attempts refused
during a lock are not counted (an operator pressing the button again does not make
the wait longer). Verifications still running count as failures for the check, so a
burst of parallel guesses cannot slip in before the first results are in.

State is in memory, per process: several hub processes each throttle on their own
(behind the `LoginLimiter` interface, so a shared store can replace it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int = 5
    window_s: float = 15 * 60.0
    first_delay_s: float = 30.0
    max_delay_s: float = 15 * 60.0
    # Keys remembered at most; beyond it, stale ones go first, then the oldest.
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window_s <= 0 or self.first_delay_s <= 0:
            raise ValueError("ThrottlePolicy needs max_failures >= 1 and positive times")
        if self.max_delay_s < self.first_delay_s:
            raise ValueError("ThrottlePolicy.max_delay_s must be >= first_delay_s")


@dataclass(slots=True)
class _Key:
    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    locks: int = 0  # locks since the key was last quiet for a whole window
    locked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    """Use: `wait = begin(keys, now)`; if 0, verify, then `failed` or `succeeded`."""

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._keys: dict[str, _Key] = {}

    def _prune(self, k: _Key, now: float) -> None:
        horizon = now - self.policy.window_s
        while k.failures and k.failures[0] <= horizon:
            k.failures.popleft()

    def wait_s(self, keys: Iterable[str], now: float) -> float:
        """Seconds until an attempt for all of `keys` may be made; 0.0 means now."""
        wait = 0.0
        for key in keys:
            k = self._keys.get(key)
            if k is None:
                continue
            self._prune(k, now)
            wait = max(wait, k.locked_until - now)
            if k.in_flight and len(k.failures) + k.in_flight >= self.policy.max_failures:
                wait = max(wait, 1.0)  # the verifications under way decide; ask again soon
        return max(0.0, wait)

    def begin(self, keys: Iterable[str], now: float) -> float:
        """0.0 and the attempt counted as under way, or the seconds to wait (refused)."""
        keys = list(keys)
        wait = self.wait_s(keys, now)
        if wait > 0:
            return wait
        return self.enter(keys, now)

    def enter(self, keys: Iterable[str], now: float) -> float:
        """The attempt counted as under way whatever the wait; returns the wait, which
        the caller makes the attempt sit out (a slow-down instead of a refusal)."""
        keys = list(keys)
        wait = self.wait_s(keys, now)
        for key in keys:
            self._keys.setdefault(key, _Key()).in_flight += 1
        self._forget(now)
        return wait

    def failed(self, keys: Iterable[str], now: float) -> float:
        """The attempt begun for `keys` failed; returns the lock it caused (s), or 0.0."""
        p = self.policy
        locked = 0.0
        for key in keys:
            k = self._keys.setdefault(key, _Key())
            k.in_flight = max(0, k.in_flight - 1)
            self._prune(k, now)
            if now - max(k.last_failure, k.locked_until) >= p.window_s:
                k.locks = 0  # quiet for a whole window (after any lock): start over
            k.failures.append(now)
            k.last_failure = now
            if k.locks > 0 or len(k.failures) >= p.max_failures:
                # The exponent is capped: under a sustained attack `locks` keeps growing
                # (a slow-down lets every attempt through) and 2.0**1024 overflows.
                delay = min(p.first_delay_s * 2.0 ** min(k.locks, 64), p.max_delay_s)
                k.locked_until = max(k.locked_until, now + delay)
                k.locks += 1
                locked = max(locked, delay)
        return locked

    def abandon(self, keys: Iterable[str]) -> None:
        """The attempt begun for `keys` ended without an answer (an error): not counted."""
        for key in keys:
            k = self._keys.get(key)
            if k is not None:
                k.in_flight = max(0, k.in_flight - 1)

    def succeeded(self, keys: Iterable[str], clear: str | None = None) -> None:
        """The attempt begun for `keys` succeeded; `clear` (the username's key) starts over."""
        for key in keys:
            k = self._keys.get(key)
            if k is not None:
                k.in_flight = max(0, k.in_flight - 1)
                if k.in_flight == 0 and not k.failures and k.locked_until == 0.0:
                    del self._keys[key]
        if clear is None:
            return
        k = self._keys.get(clear)
        if k is not None and k.in_flight == 0:
            del self._keys[clear]
        elif k is not None:
            k.failures.clear()
            k.locks = 0
            k.locked_until = 0.0

    def _forget(self, now: float) -> None:
        """Bound memory against a spray of usernames: drop stale keys, then the oldest."""
        p = self.policy
        if len(self._keys) <= p.max_keys:
            return
        for key, k in list(self._keys.items()):
            if k.in_flight == 0 and k.locked_until <= now and now - k.last_failure >= p.window_s:
                del self._keys[key]
        excess = len(self._keys) - p.max_keys
        if excess > 0:
            idle = sorted(
                (k.last_failure, key) for key, k in self._keys.items() if k.in_flight == 0
            )
            for _, key in idle[:excess]:
                del self._keys[key]


def user_key(username: str) -> str:
    return "user:" + username.strip().casefold()


def ip_key(host: str) -> str:
    return "ip:" + host


def device_key(device: str) -> str:
    return "device:" + device


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login (form or HTTP Basic): who, from where, and the id of the device cookie
    the client showed, if it is valid for this username."""

    username: str
    address: str
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """What an attempt may do: refused without a password check for `refused_s`, or
    checked after sitting out `delay_s` (0: at once). From `failed`: what it caused."""

    refused_s: float = 0.0
    delay_s: float = 0.0


class LoginLimiter(Protocol):
    """Use: `a = admit(attempt, now)`; unless refused, wait `a.delay_s`, check the
    password, then `failed` or `succeeded` (or `abandon` if the check itself failed)."""

    def admit(self, attempt: Attempt, now: float) -> Admission: ...
    def failed(self, attempt: Attempt, now: float) -> Admission: ...
    def succeeded(self, attempt: Attempt) -> None: ...
    def abandon(self, attempt: Attempt) -> None: ...


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    # Per client address and per trusted device: refused while locked (30 s ... 15 min).
    address: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    device: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    # Per username, for clients without its device cookie: a slow-down of 2 s, doubling,
    # at most 20 s per attempt; never a refusal.
    user: ThrottlePolicy = field(
        default_factory=lambda: ThrottlePolicy(first_delay_s=2.0, max_delay_s=20.0)
    )


class Throttle(Protocol):
    """What `MemoryLoginLimiter` asks of a throttle: `LoginThrottle`, or one on the shared
    store (hub.login_throttle_store.SqlLoginThrottle)."""

    def begin(self, keys: Iterable[str], now: float) -> float: ...
    def enter(self, keys: Iterable[str], now: float) -> float: ...
    def failed(self, keys: Iterable[str], now: float) -> float: ...
    def abandon(self, keys: Iterable[str]) -> None: ...
    def succeeded(self, keys: Iterable[str], clear: str | None = None) -> None: ...


class MemoryLoginLimiter:
    """`LoginLimiter` over three throttles: in this process's memory by default (a restart
    forgets; several hub processes each count on their own), or `throttle` makes them
    (the hub passes ones on the shared store)."""

    def __init__(
        self,
        policy: LoginPolicy | None = None,
        *,
        throttle: Callable[[ThrottlePolicy], Throttle] = LoginThrottle,
    ) -> None:
        self.policy = policy or LoginPolicy()
        self._address = throttle(self.policy.address)
        self._device = throttle(self.policy.device)
        self._user = throttle(self.policy.user)

    def admit(self, attempt: Attempt, now: float) -> Admission:
        if attempt.device is not None:
            return Admission(refused_s=self._device.begin([device_key(attempt.device)], now))
        refused = self._address.begin([ip_key(attempt.address)], now)
        if refused > 0:
            return Admission(refused_s=refused)
        delay = self._user.enter([user_key(attempt.username)], now)
        return Admission(delay_s=min(delay, self.policy.user.max_delay_s))

    def failed(self, attempt: Attempt, now: float) -> Admission:
        if attempt.device is not None:
            return Admission(refused_s=self._device.failed([device_key(attempt.device)], now))
        return Admission(
            refused_s=self._address.failed([ip_key(attempt.address)], now),
            delay_s=self._user.failed([user_key(attempt.username)], now),
        )

    def succeeded(self, attempt: Attempt) -> None:
        if attempt.device is not None:
            key = device_key(attempt.device)
            self._device.succeeded([key], clear=key)
            return
        # Not the address: a valid account must not reset an address guessing others.
        self._address.succeeded([ip_key(attempt.address)])
        key = user_key(attempt.username)
        self._user.succeeded([key], clear=key)

    def abandon(self, attempt: Attempt) -> None:
        if attempt.device is not None:
            self._device.abandon([device_key(attempt.device)])
        else:
            self._address.abandon([ip_key(attempt.address)])
            self._user.abandon([user_key(attempt.username)])
