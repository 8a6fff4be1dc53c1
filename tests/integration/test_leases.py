"""hub.leases: one owner at a time among workers, on both backends."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from hub.leases import Lease
from hub.sql.engine import open_engine


def test_one_owner_until_it_expires(sql_engine: Engine) -> None:
    a = Lease(sql_engine, "presence", holder="worker-a", ttl_s=15)
    b = Lease(sql_engine, "presence", holder="worker-b", ttl_s=15)
    assert a.hold(100.0)
    assert not b.hold(101.0)
    assert a.hold(110.0)  # renewed: good until 125
    assert not b.hold(124.0)
    assert b.hold(125.5)  # a stopped renewing: b takes over
    assert not a.hold(126.0)


def test_a_released_lease_is_free_at_once(sql_engine: Engine) -> None:
    a = Lease(sql_engine, "presence", holder="worker-a")
    b = Lease(sql_engine, "presence", holder="worker-b")
    assert a.hold(100.0)
    a.release()
    assert b.hold(100.5)


def test_leases_are_independent(sql_engine: Engine) -> None:
    assert Lease(sql_engine, "presence", holder="worker-a").hold(100.0)
    assert Lease(sql_engine, "summaries", holder="worker-b").hold(100.0)


def test_racing_workers_get_one_owner(sql_engine: Engine) -> None:
    """Eight workers, each on its own engine (its own connections), ask at once."""
    url = sql_engine.url.render_as_string(hide_password=False)
    engines = [open_engine(url) for _ in range(8)]
    start = threading.Barrier(len(engines))
    won: list[str] = []

    def ask(i: int) -> None:
        lease = Lease(engines[i], "presence", holder=f"worker-{i}")
        start.wait()
        if lease.hold(100.0):
            won.append(lease.holder)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(engines))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for e in engines:
            e.dispose()
    assert len(won) == 1
