from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.context import Dwelling, Presence
from hub.leases import Lease
from hub.presence import (
    OFFLINE_KEY,
    PresenceMonitor,
    PresenceStore,
    PresenceTracker,
    Transition,
)
from hub.registry import Registry, SqliteRegistry
from hub.sql.schema import open_sqlite_store
from sensors.contract import AlarmMessage, SensorHealth, Severity, Status


def status(ts: float, online: bool = True, heartbeat_s: float = 10.0, **kw: Any) -> Status:
    return Status(
        id=f"status-{int(ts * 1000):08d}",
        dwelling="dw-001",
        ts=ts,
        online=online,
        heartbeat_s=heartbeat_s,
        **kw,
    )


def tracker(started_at: float = 0.0) -> PresenceTracker:
    return PresenceTracker(heartbeat_factor=3.0, started_at=started_at)


def test_status_online_then_heartbeat_timeout() -> None:
    t = tracker()
    assert t.observe("dw-001", 100.0, status=status(100.0)) == [
        Transition("dw-001", True, 100.0, "status", 100.0)
    ]
    t.observe("dw-001", 110.0)  # a reading keeps it alive
    assert t.advance(139.9) == []  # 3 x 10 s after the last message
    [tr] = t.advance(140.1)
    assert (tr.online, tr.reason, tr.last_seen) == (False, "heartbeat_timeout", 110.0)
    assert t.advance(200.0) == []  # only once


def test_messages_close_together_keep_the_timeout_exact_within_a_tenth_of_it() -> None:
    # Readings heard within a second coalesce (the hub's fast path), but never by more
    # than a tenth of the dwelling's own timeout: 3 x 0.5 s here.
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0, heartbeat_s=0.5))
    t.observe("dw-001", 100.9, after_goodbye=False)  # a readings batch
    assert t.advance(102.3) == []  # 1.5 s after the reading at 100.9, not after 100.0
    [tr] = t.advance(102.5)
    assert (tr.online, tr.last_seen) == (False, 100.9)
    # With a minute-long timeout a reading 0.9 s later is coalesced: off by < 1 s.
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0, heartbeat_s=20.0))
    t.observe("dw-001", 100.9, after_goodbye=False)
    assert t.advance(159.95) == []
    [tr] = t.advance(160.1)
    assert tr.last_seen == 100.0


def test_last_will_goes_offline_after_the_grace_and_a_message_brings_it_back() -> None:
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    assert t.observe("dw-001", 105.0, status=status(104.0, online=False)) == []
    assert t.advance(194.9) == []  # 90 s grace: the edge may be reconnecting
    [tr] = t.advance(195.0)
    assert (tr.online, tr.reason) == (False, "status_offline")
    assert t.advance(1000.0) == []  # offline does not time out again
    [back] = t.observe("dw-001", 1001.0, status=status(1000.0))
    assert back.online and back.reason == "status"


def test_a_will_followed_by_the_edge_coming_back_raises_nothing() -> None:
    """A broker's orderly shutdown fires every edge's will; the edges reconnect."""
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0, session="session-a"))
    will = status(99.0, online=False, session="session-a")
    assert t.observe("dw-001", 105.0, status=will) == []
    assert t.observe("dw-001", 125.0, status=status(125.0, session="session-b")) == []
    assert t.advance(154.0) == []  # past the will's grace start, within the heartbeat
    state = t.state("dw-001")
    assert state is not None and state.online and state.offline_since is None


def test_a_goodbye_then_a_reading_cancels_the_grace() -> None:
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    t.observe("dw-001", 101.0, status=status(101.0, online=False))
    assert t.observe("dw-001", 102.0) == []  # a reading: alive after all
    assert t.advance(131.9) == []  # back under the heartbeat rule
    [tr] = t.advance(132.1)
    assert tr.reason == "heartbeat_timeout"


def test_a_late_readings_backlog_does_not_cancel_a_goodbye() -> None:
    """The readings session may deliver batches from before the will long after it."""
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    t.observe("dw-001", 101.0, status=status(101.0, online=False))
    assert t.observe("dw-001", 150.0, after_goodbye=False) == []  # an old batch, late
    [tr] = t.advance(191.0)
    assert (tr.online, tr.reason) == (False, "status_offline")


def test_no_timeout_counts_while_the_hub_heard_nothing() -> None:
    """The hub's own session was down (broker restart): windows restart on resume."""
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    t.resume(200.0)  # 100 s of nothing: not the dwelling's fault
    assert t.advance(229.9) == []
    assert len(t.advance(230.1)) == 1


def test_a_zero_grace_goes_offline_at_once() -> None:
    t = PresenceTracker(heartbeat_factor=3.0, started_at=0.0, offline_grace_s=0.0)
    t.observe("dw-001", 100.0, status=status(100.0))
    [tr] = t.observe("dw-001", 105.0, status=status(104.0, online=False))
    assert (tr.online, tr.reason) == (False, "status_offline")


def test_heartbeat_comes_from_the_status() -> None:
    t = tracker()
    t.observe("dw-001", 0.0, status=status(0.0, heartbeat_s=60.0))
    assert t.advance(179.0) == []
    assert len(t.advance(181.0)) == 1


def test_a_last_will_made_before_the_last_heartbeat_still_goes_offline() -> None:
    """The edge builds its will when it connects: its ts is older than later heartbeats."""
    t = tracker()
    will = status(100.0, online=False)
    t.observe("dw-001", 100.0, status=status(100.0))
    t.observe("dw-001", 110.0, status=status(110.0))
    assert t.observe("dw-001", 115.0, status=will) == []
    [tr] = t.advance(205.0)
    assert (tr.online, tr.reason) == (False, "status_offline")


def test_the_late_will_of_a_replaced_connection_is_ignored() -> None:
    """Network back: the edge reconnects (session B) before the broker gives up on the
    dead link (session A) and publishes A's will. The dwelling stays online; B's own will
    still takes it offline."""
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0, session="session-a"))
    [off] = t.advance(131.0)  # link dead: heartbeat timeout
    assert not off.online
    [on] = t.observe("dw-001", 200.0, status=status(200.0, session="session-b"))
    assert on.online
    assert t.observe("dw-001", 201.0, status=status(99.0, online=False, session="session-a")) == []
    assert t.advance(225.0) == []  # still online, within its heartbeat window
    assert t.observe("dw-001", 226.0, status=status(199.0, online=False, session="session-b")) == []
    [gone] = t.advance(316.0)
    assert (gone.online, gone.reason) == (False, "status_offline")


def test_a_held_heartbeat_of_a_replaced_connection_changes_nothing() -> None:
    """The network delivers connection A's heartbeat (held while it was cut) after the
    new connection B's online status: A is superseded, its heartbeat window and its will
    are old news, even with no grace at all."""
    t = PresenceTracker(heartbeat_factor=3.0, started_at=0.0, offline_grace_s=0.0)
    t.observe("dw-001", 100.0, status=status(100.0, heartbeat_s=5.0, session="session-a"))
    [off] = t.advance(116.0)
    assert off.reason == "heartbeat_timeout"
    [on] = t.observe("dw-001", 200.0, status=status(200.0, heartbeat_s=30.0, session="session-b"))
    assert on.online
    held = status(104.0, heartbeat_s=5.0, session="session-a")
    assert t.observe("dw-001", 200.5, status=held) == []
    state = t.state("dw-001")
    assert state is not None
    assert (state.online_session, state.heartbeat_s, state.status_id) == (
        "session-b",
        30.0,
        status(200.0).id,
    )
    # A's will (grace 0 would take it offline at once) and A's 15 s window: nothing.
    assert t.observe("dw-001", 201.0, status=status(99.0, online=False, session="session-a")) == []
    assert t.advance(289.0) == []  # B's window: 3 x 30 s from 200
    [gone] = t.advance(291.0)
    assert (gone.online, gone.reason) == (False, "heartbeat_timeout")


def test_superseded_connections_are_remembered_boundedly() -> None:
    t = tracker()
    for i in range(20):
        t.observe("dw-001", 100.0 + i, status=status(100.0 + i, session=f"session-{i:02d}"))
    state = t.state("dw-001")
    assert state is not None and state.online_session == "session-19"
    assert state.superseded == tuple(f"session-{i:02d}" for i in range(11, 19))


def _cut_and_timeout(t: PresenceTracker, skew: float) -> None:
    """Connection A up at 100 (hub clock), heartbeats every 10 s, readings; the network
    is cut after 112; the hub times A out. The edge's clock is `skew` s off the hub's."""
    t.observe("dw-001", 100.0, status=status(100.0 + skew, session="session-a"))
    t.observe("dw-001", 110.0, status=status(110.0 + skew, session="session-a"))
    t.observe("dw-001", 112.0, made_at=112.0 + skew)  # a readings batch
    assert t.advance(141.9) == []
    [off] = t.advance(142.1)
    assert (off.online, off.reason) == (False, "heartbeat_timeout")


@pytest.mark.parametrize("skew", [0.0, -1000.0, 450.0])
def test_what_the_network_held_for_a_timed_out_connection_does_not_bring_it_back(
    skew: float,
) -> None:
    """The network returns at 200 and delivers what it held for A (a heartbeat and a
    batch A made before the hub gave up on it): old news, whatever the edge's clock. The
    new connection B's online status, seconds later, brings the dwelling back, once."""
    t = tracker()
    _cut_and_timeout(t, skew)
    assert t.observe("dw-001", 200.0, status=status(120.0 + skew, session="session-a")) == []
    assert t.observe("dw-001", 200.1, made_at=121.0 + skew) == []
    state = t.state("dw-001")
    assert state is not None and not state.online
    [back] = t.observe("dw-001", 204.0, status=status(204.0 + skew, session="session-b"))
    assert (back.online, back.reason) == (True, "status")
    t.observe("dw-001", 204.5, made_at=130.0 + skew)  # B's backlog from the cut
    assert t.advance(233.9) == []


def test_a_connection_timed_out_by_mistake_comes_back_on_its_next_heartbeat() -> None:
    """The hub gave up on A, but A lives (its heartbeats were late): what A made after
    the hub gave up brings the dwelling back."""
    t = tracker()
    _cut_and_timeout(t, 0.0)
    [back] = t.observe("dw-001", 150.0, status=status(149.0, session="session-a"))
    assert (back.online, back.reason) == (True, "status")


def test_a_readings_batch_made_after_the_timeout_brings_it_back() -> None:
    t = tracker()
    _cut_and_timeout(t, 0.0)
    [back] = t.observe("dw-001", 150.0, made_at=148.0)
    assert (back.online, back.reason) == (True, "message")


def test_an_edge_without_sessions_comes_back_on_any_message() -> None:
    """Older agents send no session: a message after a timeout brings them back, as before."""
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    assert len(t.advance(131.0)) == 1
    [back] = t.observe("dw-001", 200.0, made_at=105.0)
    assert back.online
    assert len(t.advance(231.0)) == 1
    [again] = t.observe("dw-001", 300.0, status=status(105.0))  # even an old status
    assert again.online


def test_the_connection_session_survives_a_hub_restart(tmp_path: Path) -> None:
    store = PresenceStore(open_sqlite_store(tmp_path / "hub.sqlite"))
    t = tracker()
    t.observe("dw-001", 90.0, status=status(90.0, session="session-a"))
    t.observe("dw-001", 100.0, status=status(100.0, session="session-b"))
    assert len(t.advance(131.0)) == 1
    store.save(t.states())
    [saved] = store.load()
    assert saved == t.state("dw-001")
    assert saved.online_session == "session-b" and saved.superseded == ("session-a",)
    assert saved.gave_up_at_source == 130.0
    store.close()
    # The restarted hub still takes A for replaced and B's held bytes for old news.
    t2 = tracker(started_at=500.0)
    t2.restore([saved])
    assert t2.observe("dw-001", 501.0, status=status(120.0, session="session-b")) == []
    assert t2.observe("dw-001", 501.0, status=status(95.0, session="session-a")) == []
    [back] = t2.observe("dw-001", 502.0, status=status(502.0, session="session-c"))
    assert back.online


def test_the_retained_copy_of_the_applied_status_changes_nothing() -> None:
    t = tracker()
    last = status(100.0)
    t.observe("dw-001", 100.0, status=last)
    assert len(t.advance(200.0)) == 1  # timed out: the broker has not noticed yet
    # hub resubscribes (reconnect or restart): the same retained status comes again
    assert t.observe("dw-001", 201.0, status=last, retained=True) == []
    assert t.state("dw-001").online is False  # type: ignore[union-attr]
    # a retained status not applied yet (the will, once the broker notices) is applied
    will = status(90.0, online=False)
    assert t.observe("dw-001", 202.0, status=will, retained=True) == []  # offline already
    assert t.state("dw-001").status_id == will.id  # type: ignore[union-attr]


def test_a_will_that_fired_while_the_hub_was_away_comes_from_the_retained_copy() -> None:
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    t2 = tracker(started_at=500.0)
    t2.restore(t.states())
    # Fired when, nobody knows: the edge gets the grace from now to show up.
    assert t2.observe("dw-001", 500.1, status=status(95.0, online=False), retained=True) == []
    [tr] = t2.advance(590.1)
    assert (tr.online, tr.reason) == (False, "status_offline")


def test_retained_status_counts_from_its_own_time_but_not_before_hub_start() -> None:
    # Hub started at 1000; a retained "online" from 900 gives a full window from 1000.
    t = tracker(started_at=1000.0)
    [tr] = t.observe("dw-001", 1000.5, status=status(900.0), retained=True)
    assert tr.online
    assert t.advance(1029.0) == []
    assert len(t.advance(1031.0)) == 1


def test_first_offline_status_is_a_transition() -> None:
    """Re-derived from the retained last will after a hub restart with no saved state."""
    t = tracker()
    [tr] = t.observe("dw-001", 5.0, status=status(1.0, online=False), retained=True)
    assert not tr.online


def test_restore_gives_a_fresh_window_from_start() -> None:
    t = tracker()
    t.observe("dw-001", 100.0, status=status(100.0))
    saved = t.states()
    t2 = tracker(started_at=5000.0)
    t2.restore(saved)
    assert t2.advance(5029.0) == []
    assert len(t2.advance(5031.0)) == 1


class RecordingAlarms:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def on_edge_alarm(self, msg: AlarmMessage, received_at: float) -> None:
        self.calls.append(("edge", msg.dwelling, msg.alarm_id))

    async def raise_technical(
        self,
        dwelling: str,
        key: str,
        severity: Severity,
        detail: dict[str, float | int | bool | str | None],
        now: float,
    ) -> None:
        assert severity is Severity.MEDIUM
        self.calls.append(("raise", dwelling, key))

    async def clear_technical(self, dwelling: str, key: str, now: float) -> None:
        self.calls.append(("clear", dwelling, key))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = SqliteRegistry(tmp_path / "hub.sqlite")
    r.add_dwelling(Dwelling("dw-001", "Unit 1"))
    r.add_dwelling(Dwelling("dw-002", "Unit 2"))
    yield r
    r.close()


def _monitor(
    tmp_path: Path, registry: Registry, alarms: RecordingAlarms, start: float
) -> PresenceMonitor:
    return PresenceMonitor(
        tracker(started_at=start),
        PresenceStore(open_sqlite_store(tmp_path / "hub.sqlite")),
        alarms,
        registry,
        clock=lambda: start,
    )


async def test_monitor_raises_and_clears_the_offline_alarm_and_remembers(
    tmp_path: Path, registry: Registry
) -> None:
    alarms = RecordingAlarms()
    m = _monitor(tmp_path, registry, alarms, 0.0)
    sensor = SensorHealth(sensor="hr-1", kind="heart_rate", state="ok", battery=80.0)
    await m.observe("dw-001", 1.0, status(1.0, spool_depth=3, sensors=[sensor]), False)
    await m.tick(100.0)
    assert alarms.calls == [("clear", "dw-001", OFFLINE_KEY), ("raise", "dw-001", OFFLINE_KEY)]

    board = {h.dwelling: h for h in m.board()}
    assert set(board) == {"dw-001", "dw-002"}
    assert board["dw-001"].online is False and board["dw-001"].spool_depth == 3
    assert board["dw-001"].sensors[0].battery == 80.0
    assert board["dw-002"].last_seen is None

    # A restarted hub remembers it was offline: no new alarm, and comes back on a message.
    alarms2 = RecordingAlarms()
    m2 = _monitor(tmp_path, registry, alarms2, 200.0)
    await m2.tick(500.0)
    assert alarms2.calls == []
    assert m2.state("dw-001").online is False  # type: ignore[union-attr]
    await m2.observe("dw-001", 501.0, None, False)
    assert alarms2.calls == [("clear", "dw-001", OFFLINE_KEY)]
    m.close()
    m2.close()


async def test_a_network_cut_and_return_raise_one_offline_alarm_cleared_on_return(
    tmp_path: Path, registry: Registry
) -> None:
    """The whole sequence a cut produces, as the hub's ingest hands it over: the offline
    alarm once, cleared by the new connection, nothing for the old one's leftovers."""
    alarms = RecordingAlarms()
    m = _monitor(tmp_path, registry, alarms, 0.0)
    await m.observe("dw-001", 100.0, status(100.0, session="session-a"), False)
    await m.observe("dw-001", 105.0, None, False, made_at=105.0, after_goodbye=False)
    await m.tick(140.0)  # cut at 106: the heartbeat timeout
    # The broker notices the dead link only now and fires A's will (grace: 90 s).
    await m.observe("dw-001", 150.0, status(99.0, online=False, session="session-a"), False)
    # The network returns at 200: A's held heartbeat and batch, then connection B.
    await m.observe("dw-001", 200.0, status(110.0, session="session-a"), False)
    await m.observe("dw-001", 200.0, None, False, made_at=108.0, after_goodbye=False)
    await m.tick(202.0)
    await m.observe("dw-001", 203.0, status(203.0, session="session-b"), False)
    # A's will once more, late (a retained copy, or a second broker), and B's heartbeats.
    await m.observe("dw-001", 204.0, status(99.0, online=False, session="session-a"), True)
    for t in range(213, 400, 10):
        await m.observe("dw-001", float(t), status(float(t), session="session-b"), False)
        await m.tick(float(t) + 5.0)
    assert alarms.calls == [
        ("clear", "dw-001", OFFLINE_KEY),
        ("raise", "dw-001", OFFLINE_KEY),
        ("clear", "dw-001", OFFLINE_KEY),
    ]
    m.close()


def test_monitor_satisfies_the_console_protocol(tmp_path: Path, registry: Registry) -> None:
    m = _monitor(tmp_path, registry, RecordingAlarms(), 0.0)
    p: Presence = m
    assert len(p.board()) == 2
    m.close()


async def test_a_removed_dwelling_going_silent_raises_nothing(
    tmp_path: Path, registry: Registry
) -> None:
    alarms = RecordingAlarms()
    m = _monitor(tmp_path, registry, alarms, 0.0)
    await m.observe("dw-002", 1.0, status(1.0), False)
    registry.remove_dwelling("dw-002")
    assert await m.tick(1000.0) == []
    assert alarms.calls == [("clear", "dw-002", OFFLINE_KEY)]
    assert m.state("dw-002") is None
    m.close()


async def test_only_the_lease_owner_raises_and_a_survivor_takes_over(
    tmp_path: Path, registry: Registry
) -> None:
    """Two hub workers see every status; one owns the offline alarms. When it dies the
    other takes the lease over and raises what the dead one may have left unraised."""
    engine = open_sqlite_store(tmp_path / "hub.sqlite")
    calls: dict[str, RecordingAlarms] = {"a": RecordingAlarms(), "b": RecordingAlarms()}
    workers = {
        name: PresenceMonitor(
            tracker(started_at=0.0),
            PresenceStore(engine),
            calls[name],
            registry,
            clock=lambda: 0.0,
            lease=Lease(engine, "presence", holder=f"worker-{name}", ttl_s=15.0),
        )
        for name in ("a", "b")
    }
    a, b = workers["a"], workers["b"]
    await a.hold_lease(1.0)
    await b.hold_lease(1.0)
    assert (a.owner, b.owner) == (True, False)
    for w in (a, b):
        await w.observe("dw-001", 1.0, status(1.0), False)
        await w.tick(100.0)
    assert calls["a"].calls == [("clear", "dw-001", OFFLINE_KEY), ("raise", "dw-001", OFFLINE_KEY)]
    assert calls["b"].calls == []

    await b.hold_lease(110.0)  # a renewed last at 1.0: its lease ran out at 16.0
    assert b.owner
    assert calls["b"].calls == [("raise", "dw-001", OFFLINE_KEY)]
    await b.observe("dw-001", 120.0, status(120.0), False)
    assert calls["b"].calls[-1] == ("clear", "dw-001", OFFLINE_KEY)
    engine.dispose()
