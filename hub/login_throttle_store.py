"""The console's login throttle on the operational store, so that every hub worker counts
the same failures (a guesser spread over the workers meets one lock).

`SqlLoginThrottle` has `LoginThrottle`'s interface and runs its very logic
(hub.api.throttle, pure): each call loads the keys' state in one write transaction (rows
locked on PostgreSQL), applies the step and writes the state back. Attempts under way are
kept as their start times and forgotten after IN_FLIGHT_S, so a worker that died
mid-check does not leave a key held.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

from sqlalchemy import Connection, Engine, delete, select

from hub.api.throttle import (
    LoginPolicy,
    LoginThrottle,
    MemoryLoginLimiter,
    ThrottlePolicy,
    _Key,
)
from hub.ops_tables import login_throttle as table
from hub.sql.engine import insert, writing

IN_FLIGHT_S: Final = 60.0
T = TypeVar("T")


class SqlLoginThrottle:
    def __init__(self, engine: Engine, policy: ThrottlePolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._engine = engine
        self._clock = clock

    def wait_s(self, keys: Iterable[str], now: float) -> float:
        return self._step(list(keys), lambda t, ks: t.wait_s(ks, now), now)

    def begin(self, keys: Iterable[str], now: float) -> float:
        return self._step(list(keys), lambda t, ks: t.begin(ks, now), now)

    def enter(self, keys: Iterable[str], now: float) -> float:
        return self._step(list(keys), lambda t, ks: t.enter(ks, now), now)

    def failed(self, keys: Iterable[str], now: float) -> float:
        return self._step(list(keys), lambda t, ks: t.failed(ks, now), now)

    def abandon(self, keys: Iterable[str]) -> None:
        self._step(list(keys), lambda t, ks: t.abandon(ks), self._clock())

    def succeeded(self, keys: Iterable[str], clear: str | None = None) -> None:
        wanted = list(keys) + ([clear] if clear is not None else [])
        self._step(wanted, lambda t, _ks: t.succeeded(list(keys), clear), self._clock())

    def _step(self, keys: list[str], op: Callable[[LoginThrottle, list[str]], T], now: float) -> T:
        keys = list(dict.fromkeys(keys))
        with writing(self._engine) as conn:
            throttle = LoginThrottle(self.policy)
            starts = self._load(conn, keys, throttle, now)
            result = op(throttle, keys)
            self._save(conn, keys, throttle, starts, now)
        return result

    def _load(
        self, conn: Connection, keys: list[str], throttle: LoginThrottle, now: float
    ) -> dict[str, list[float]]:
        q = select(table.c.key, table.c.state).where(table.c.key.in_(keys)).with_for_update()
        starts: dict[str, list[float]] = {}
        for key, raw in conn.execute(q):
            d = json.loads(raw)
            running = [t for t in d["in_flight"] if now - t < IN_FLIGHT_S]
            starts[key] = running
            throttle._keys[key] = _Key(
                failures=deque(d["failures"]),
                in_flight=len(running),
                locks=d["locks"],
                locked_until=d["locked_until"],
                last_failure=d["last_failure"],
            )
        return starts

    def _save(
        self,
        conn: Connection,
        keys: list[str],
        throttle: LoginThrottle,
        starts: dict[str, list[float]],
        now: float,
    ) -> None:
        gone = [k for k in keys if k not in throttle._keys]
        if gone:
            conn.execute(delete(table).where(table.c.key.in_(gone)))
        for key in keys:
            k = throttle._keys.get(key)
            if k is None:
                continue
            running = sorted(starts.get(key, []))
            while len(running) > k.in_flight:
                running.pop(0)  # an attempt ended: the oldest start goes
            running += [now] * (k.in_flight - len(running))
            state = json.dumps(
                {
                    "failures": list(k.failures),
                    "in_flight": running,
                    "locks": k.locks,
                    "locked_until": k.locked_until,
                    "last_failure": k.last_failure,
                }
            )
            stmt = insert(conn, table).values(key=key, state=state, updated_at=now)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key"], set_={"state": state, "updated_at": now}
                )
            )

    def forget_stale(self, now: float) -> int:
        """Drop keys untouched for a whole window past their last lock (housekeeping)."""
        horizon = now - self.policy.window_s - self.policy.max_delay_s
        with writing(self._engine) as conn:
            done = conn.execute(delete(table).where(table.c.updated_at < horizon))
        return int(done.rowcount)


def shared_login_limiter(
    engine: Engine, clock: Callable[[], float], policy: LoginPolicy | None = None
) -> MemoryLoginLimiter:
    """The console's `LoginLimiter` with its three throttles on the shared store."""
    return MemoryLoginLimiter(policy, throttle=lambda p: SqlLoginThrottle(engine, p, clock))
