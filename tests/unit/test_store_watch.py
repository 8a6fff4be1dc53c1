"""hub.watch: commits other connections make to the alarm store and the registry are
noticed within the poll bound, once per look however many, never when nothing changed,
and a failing look is counted while the watcher keeps going."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from alerts.channels.router import ChannelRouter
from alerts.model import AlarmKind, Contact, Severity
from alerts.service import AlarmService, AlertSettings
from hub.admin_cli import app as admin_app
from hub.api.app import create_app
from hub.api.live import LiveHub
from hub.context import Actor, Dwelling, Operator
from hub.registry import Registry, SqliteRegistry
from hub.watch import StoreChange, Watcher, alarm_feed, registry_feed
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock, sample_directory
from tests.integration.console_fakes import build
from tests.ops_store import ops_file
from tests.servers import wait_until

PROMISE_S = 2.0  # what the console promises: another process's change within 2 s


def service(path: Path, clock: FakeClock) -> AlarmService:
    """An alarm service on the SQLite file `path`: a hub process of its own."""
    return AlarmService(
        ops_file(path),
        ChannelRouter(None, None),
        sample_directory(),
        AlertSettings(public_url="http://testserver", secret_key="watch-test-secret-0123456"),
        clock,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def two(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[AlarmService, AlarmService]]:
    """This hub's alarm service and another process's, on one file (two connections)."""
    a = service(tmp_path / "hub.sqlite", clock)
    b = service(tmp_path / "hub.sqlite", clock)
    yield a, b
    for svc in (a, b):
        svc.close()
        svc.store.engine.dispose()


async def raise_alarm(svc: AlarmService, clock: FakeClock, dwelling: str = "dw-001") -> str:
    msg = AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=clock() - 1,
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
    )
    await svc.on_edge_alarm(msg, received_at=clock())
    return msg.alarm_id


@dataclass
class Seen:
    """The Watcher's callback: every change, with when it arrived (on the loop)."""

    changes: list[StoreChange] = field(default_factory=list)
    at: list[float] = field(default_factory=list)

    def __call__(self, change: StoreChange) -> None:
        self.changes.append(change)
        self.at.append(time.monotonic())

    def alarms(self) -> set[str]:
        return {a for c in self.changes for a in c.alarms}


@pytest.fixture
async def watching(
    two: tuple[AlarmService, AlarmService], tmp_path: Path
) -> AsyncIterator[tuple[Watcher, Seen]]:
    seen = Seen()
    watcher = Watcher([alarm_feed(tmp_path / "hub.sqlite")], seen, interval_s=0.25)
    watcher.start()
    await wait_until(lambda: watcher.stats()["alarms"].polls >= 1)  # its first look is done
    yield watcher, seen
    await watcher.stop()


# -- the feed, look by look ---------------------------------------------------------------


async def test_a_feed_reports_what_another_connection_committed_once(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    feed = alarm_feed(tmp_path / "hub.sqlite")
    before = await raise_alarm(b, clock)
    assert feed.read() is None  # the first look: only what comes after it
    alarm_id = await raise_alarm(b, clock, "dw-002")
    assert feed.read() == StoreChange(
        "alarms", alarms=frozenset({alarm_id}), dwellings=frozenset({"dw-002"})
    )
    assert feed.read() is None
    await b.acknowledge(before, "anja", "ik bel", clock())
    change = feed.read()
    assert change is not None and change.alarms == {before} and change.dwellings == {"dw-001"}
    # A commit that changes nothing a console shows (the routing flag) is no change.
    b.store.mark_routed(before)
    assert feed.read() is None
    feed.close()


async def test_a_burst_between_two_looks_is_one_change_and_a_long_one_comes_in_parts(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    feed = alarm_feed(tmp_path / "hub.sqlite")
    small = alarm_feed(tmp_path / "hub.sqlite", limit=40)
    assert feed.read() is None and small.read() is None
    ids = [await raise_alarm(b, clock) for _ in range(100)]
    change = feed.read()
    assert change is not None and change.alarms == set(ids) and not change.everything
    assert feed.read() is None
    # At most `limit` log rows per look; the rest at the next looks, with no new commit.
    parts = [small.read() for _ in range(4)]
    assert [len(p.alarms) if p else 0 for p in parts] == [40, 40, 20, 0]
    assert {a for p in parts if p for a in p.alarms} == set(ids)
    feed.close()
    small.close()


class Counting(sqlite3.Connection):
    """A connection that remembers every statement it ran."""

    statements: ClassVar[list[str]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        Counting.statements.append(sql)
        return super().execute(sql, *args)


async def test_an_idle_look_is_one_pragma(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    Counting.statements = []
    feed = alarm_feed(tmp_path / "hub.sqlite", factory=Counting)
    assert feed.read() is None
    await raise_alarm(b, clock)
    assert feed.read() is not None
    Counting.statements.clear()
    for _ in range(20):
        assert feed.read() is None
    assert Counting.statements == ["PRAGMA data_version"] * 20
    feed.close()


# -- the watcher, on its thread -----------------------------------------------------------


async def test_another_processs_change_is_noticed_within_the_bound(
    two: tuple[AlarmService, AlarmService],
    clock: FakeClock,
    watching: tuple[Watcher, Seen],
) -> None:
    _, b = two
    _, seen = watching
    for act in ("raise", "ack", "resolve"):
        if act == "raise":
            alarm_id = await raise_alarm(b, clock)
        elif act == "ack":
            await b.acknowledge(alarm_id, "anja", "", clock())
        else:
            await b.resolve(alarm_id, "anja", "loos alarm", clock())
        committed = time.monotonic()
        n = len(seen.changes)
        await wait_until(lambda n=n: len(seen.changes) > n, timeout=PROMISE_S)
        assert alarm_id in seen.changes[-1].alarms
        assert seen.at[-1] - committed < PROMISE_S, act


async def test_a_burst_of_100_changes_gives_one_change_per_look(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    seen = Seen()
    watcher = Watcher([alarm_feed(tmp_path / "hub.sqlite")], seen, interval_s=0.05)
    watcher.start()
    await wait_until(lambda: watcher.stats()["alarms"].polls >= 1)
    polls_before = watcher.stats()["alarms"].polls
    ids = [await raise_alarm(b, clock) for _ in range(100)]
    await wait_until(lambda: seen.alarms() >= set(ids), timeout=PROMISE_S)
    looks = watcher.stats()["alarms"].polls - polls_before
    await watcher.stop()
    # One change per look at most: not one per row (100), not one per commit.
    assert 1 <= len(seen.changes) <= looks + 1
    assert len(seen.changes) < 100


async def test_no_change_is_reported_when_nothing_changed(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    await raise_alarm(b, clock)  # before the watcher: not its news
    seen = Seen()
    watcher = Watcher([alarm_feed(tmp_path / "hub.sqlite")], seen, interval_s=0.01)
    watcher.start()
    await wait_until(lambda: watcher.stats()["alarms"].polls >= 50)
    await watcher.stop()
    assert seen.changes == []
    assert watcher.stats()["alarms"].changes == 0
    assert not (watcher.thread and watcher.thread.is_alive())


class Locked(sqlite3.Connection):
    """A connection that fails like a locked database while `locked` is set."""

    locked: ClassVar[threading.Event] = threading.Event()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if Locked.locked.is_set():
            raise sqlite3.OperationalError("database is locked")
        return super().execute(sql, *args)


async def test_a_failing_look_is_counted_and_the_watcher_keeps_going(
    two: tuple[AlarmService, AlarmService],
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, b = two
    caplog.set_level(logging.INFO, logger="hub.watch")
    seen = Seen()
    watcher = Watcher([alarm_feed(tmp_path / "hub.sqlite", factory=Locked)], seen, interval_s=0.01)
    Locked.locked.clear()
    watcher.start()
    await wait_until(lambda: watcher.stats()["alarms"].polls >= 1)
    Locked.locked.set()
    alarm_id = await raise_alarm(b, clock)  # committed while the watcher cannot read
    await wait_until(lambda: watcher.stats()["alarms"].failures >= 5)
    assert seen.changes == []
    Locked.locked.clear()
    await wait_until(lambda: alarm_id in seen.alarms(), timeout=PROMISE_S)
    stats = watcher.stats()["alarms"]
    assert stats.last_error == "database is locked"
    later = await raise_alarm(b, clock)
    await wait_until(lambda: later in seen.alarms(), timeout=PROMISE_S)
    await watcher.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "database is locked" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)


async def test_a_failing_listener_does_not_stop_the_watcher(
    two: tuple[AlarmService, AlarmService], clock: FakeClock, tmp_path: Path
) -> None:
    _, b = two
    seen = Seen()

    def listener(change: StoreChange) -> None:
        seen(change)
        if len(seen.changes) == 1:
            raise RuntimeError("a broken console tab")

    watcher = Watcher([alarm_feed(tmp_path / "hub.sqlite")], listener, interval_s=0.01)
    watcher.start()
    await wait_until(lambda: watcher.stats()["alarms"].polls >= 1)
    first = await raise_alarm(b, clock)
    await wait_until(lambda: first in seen.alarms())
    second = await raise_alarm(b, clock)
    await wait_until(lambda: second in seen.alarms())
    await watcher.stop()


# -- the registry -------------------------------------------------------------------------


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    a = SqliteRegistry(tmp_path / "hub.sqlite")
    a.add_dwelling(Dwelling("dw-001", "Unit 3, Tuinstraat"))
    a.add_contact(Contact("c-anna", "dw-001", "Anna de Vries", "anna@example.org"))
    a.add_operator(Operator("jan", "operator", "Jan Jansen"), "juist-wachtwoord-42")
    b = SqliteRegistry(tmp_path / "hub.sqlite")
    yield a, b
    a.close()
    b.close()


def test_registry_edits_elsewhere_name_their_dwelling_or_operator(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    a, b = registries
    feed = registry_feed(tmp_path / "hub.sqlite")
    assert feed.read() is None
    sid, _ = a.create_session("jan", 1000.0, max_age_s=3600, idle_s=600)
    assert feed.read() is None  # a new session: nothing a console shows
    anna = b.contact("c-anna")
    assert anna is not None
    b.update_contact(replace(anna, phone="+31 6 1234 5678"))
    assert feed.read() == StoreChange("registry", dwellings=frozenset({"dw-001"}))
    # The resident card a coordinator edits elsewhere (the alarm page shows it).
    b.update_resident(
        "dw-001", {"gp_phone": "030 123 4567"}, Actor("els", "coordinator", "cli"), 1001.0
    )
    assert feed.read() == StoreChange("registry", dwellings=frozenset({"dw-001"}))
    # A session's last-seen time, written when it is used, is no change either.
    assert a.session(sid, 1000.0 + 120, idle_s=600) is not None
    assert feed.read() is None
    # `mz admin`, as an operator runs it, on the same file.
    runner = CliRunner()
    r = runner.invoke(
        admin_app,
        ["dwelling", "add", "dw-009", "--label", "Unit 9, Molenweg", "--data-dir", str(tmp_path)],
    )
    assert r.exit_code == 0, r.output
    assert feed.read() == StoreChange("registry", dwellings=frozenset({"dw-009"}))
    r = runner.invoke(admin_app, ["operator", "logout", "jan", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert feed.read() == StoreChange("registry", operators=frozenset({"jan"}))
    feed.close()


def test_a_feed_behind_the_pruned_registry_log_is_told_everything(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    _, b = registries
    feed = registry_feed(tmp_path / "hub.sqlite")
    assert feed.read() is None
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:  # one bulk edit
        for i in range(1200):
            conn.execute("UPDATE dwellings SET label = ? WHERE id = 'dw-001'", (f"Unit {i}",))
    conn.close()
    change = feed.read()
    assert change is not None and change.everything and change.dwellings == {"dw-001"}
    rest = feed.read()  # the log's remainder (a look reads at most READ_LIMIT rows)
    assert rest is not None and not rest.everything
    assert feed.read() is None
    b.add_dwelling(Dwelling("dw-010", "Unit 10"))
    assert feed.read() == StoreChange("registry", dwellings=frozenset({"dw-010"}))
    feed.close()


# -- wired into the console -----------------------------------------------------------


async def test_the_console_wakes_its_live_streams_and_stops_its_watcher(
    tmp_path: Path, clock: FakeClock
) -> None:
    ctx, alarms = build(tmp_path, clock)
    other = service(tmp_path / "hub.sqlite", clock)  # another hub process, same file
    app = create_app(
        ctx,
        clock=clock,
        watch=[alarm_feed(tmp_path / "hub.sqlite"), registry_feed(tmp_path / "hub.sqlite")],
    )
    live: LiveHub = app.state.live
    watcher: Watcher = app.state.watcher
    async with app.router.lifespan_context(app):
        assert watcher.thread is not None and watcher.thread.is_alive()
        await wait_until(lambda: watcher.stats()["alarms"].polls >= 1)
        queue = live.subscribe()
        alarm_id = await raise_alarm(other, clock)
        woke = await asyncio.wait_for(queue.get(), PROMISE_S)
        assert isinstance(woke, StoreChange) and woke.alarms == {alarm_id}
    assert not watcher.thread.is_alive()
    assert await asyncio.wait_for(queue.get(), 1) is None  # the stream is told to end
    missed = await raise_alarm(other, clock)  # while the app is down
    async with app.router.lifespan_context(app):  # started again: where it left off
        queue = live.subscribe()
        woke = await asyncio.wait_for(queue.get(), PROMISE_S)
        assert isinstance(woke, StoreChange) and woke.alarms == {missed}
    other.close()
    other.store.engine.dispose()
    alarms.close()
