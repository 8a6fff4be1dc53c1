"""Changes other processes commit to the shared stores, noticed within a fraction of a second.

Several hub processes (and `mz admin`) share the alarm store and the registry. The
AlarmService listeners only see this process's changes; a `Watcher` polls one
`ChangeFeed` per store on a thread of its own and hands each `StoreChange` to a callback
on the event loop (the console's LiveHub, which wakes every live stream).

`SqliteFeed` is the SQLite implementation: on a connection of its own it reads
`PRAGMA data_version`, which changes only when another connection committed to the file
(SQLite: "unchanged for commits made on the same database connection"); only then does it
read the store's change log, an AUTOINCREMENT sequence the writers append to in the
transaction that makes the change (the alarms' `alarm_log`, the registry's
`registry_changes`). A sequence, not timestamps: the processes' clocks may differ, and
with SQLite's single writer seq order is commit order. Idle, a poll is one pragma.

On PostgreSQL `hub.pg_feed.PgFeed` implements `ChangeFeed` with LISTEN/NOTIFY: the
writers' triggers NOTIFY in their transaction, and `read()` drains what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from alerts import store as alarm_store
from hub import registry_changes

log = logging.getLogger(__name__)

# How often a Watcher looks: the console's promise is "within 2 s".
WATCH_INTERVAL_S: Final = 0.25
# A feed reads at most this many log rows per look; more come at the next one.
READ_LIMIT: Final = 1000
# A watcher's own reads wait this long for a lock (WAL readers rarely wait at all).
BUSY_TIMEOUT_S: Final = 0.5
STOP_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class StoreChange:
    """What one look at a store found committed since the last look."""

    store: str  # the feed's name: "alarms" or "registry"
    alarms: frozenset[str] = frozenset()  # alarms whose record or timeline changed
    dwellings: frozenset[str] = frozenset()  # dwellings concerned: their alarms or entries
    operators: frozenset[str] = frozenset()  # operators changed, or a session of theirs ended
    # The feed lost track (its log was pruned past the last row it saw): re-read it all.
    everything: bool = False


class ChangeFeed(Protocol):
    """Where commits made elsewhere show up. Called from the watcher's thread only."""

    @property
    def name(self) -> str: ...

    def read(self) -> StoreChange | None:
        """What changed since the last read (None: nothing). Short; raises on failure,
        and the next read still reports what changed meanwhile."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Logged:
    """One change-log row as a feed reads it."""

    seq: int
    alarm: str | None = None
    dwelling: str | None = None
    operator: str | None = None


def fold(store: str, last: int, rows: Sequence[Logged]) -> StoreChange:
    """The rows after `last` as one change; a gap before the first means rows were lost."""
    return StoreChange(
        store,
        alarms=frozenset(r.alarm for r in rows if r.alarm is not None),
        dwellings=frozenset(r.dwelling for r in rows if r.dwelling is not None),
        operators=frozenset(r.operator for r in rows if r.operator is not None),
        everything=bool(rows) and rows[0].seq > last + 1,
    )


Head = Callable[[sqlite3.Connection], int]
Since = Callable[[sqlite3.Connection, int, int], list[Logged]]


class SqliteFeed:
    """A ChangeFeed on one SQLite file (see the module's docstring).

    The file must exist (it is never created here). The connection is opened at the
    first read and dropped after a failure, to be opened again at the next one; the
    position in the log is kept, so nothing committed meanwhile is missed. `factory`
    is the sqlite3 connection class (tests pass one that fails on demand).
    """

    def __init__(
        self,
        name: str,
        path: Path,
        head: Head,
        since: Since,
        *,
        limit: int = READ_LIMIT,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        self._name = name
        self._uri = path.resolve().as_uri() + "?mode=rw"
        self._head = head
        self._since = since
        self._limit = limit
        self._factory = factory
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None  # data_version at the last complete read
        self._last: int | None = None  # the newest log row seen
        self._behind = False  # the last read hit the limit: more rows are waiting

    @property
    def name(self) -> str:
        return self._name

    def read(self) -> StoreChange | None:
        try:
            return self._read()
        except BaseException:
            self.close()
            raise

    def _read(self) -> StoreChange | None:
        db = self._db or self._open()
        version = int(db.execute("PRAGMA data_version").fetchone()[0])
        if self._last is None:  # the first look: changes from here on
            self._last = self._head(db)
            self._version = version
            return None
        if version == self._version and not self._behind:
            return None
        # data_version first, then the log: a commit in between is either in these rows
        # or changes data_version again for the next read.
        rows = self._since(db, self._last, self._limit)
        self._version = version
        self._behind = len(rows) >= self._limit
        if not rows:
            return None  # a commit that logged nothing (the outbox, a session touch)
        change = fold(self._name, self._last, rows)
        self._last = rows[-1].seq
        return change

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._uri,
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            factory=self._factory,
        )
        try:
            db.execute("PRAGMA query_only=ON")
        except BaseException:
            db.close()
            raise
        self._db = db
        self._version = None  # a new connection: read the log once to be sure
        return db

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def alarm_feed(
    path: Path, *, limit: int = READ_LIMIT, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> SqliteFeed:
    """The alarm store (alerts.store): every alarm change and timeline entry. `path` is
    the operational store's SQLite file (`hub.sql.engine.sqlite_path(engine)`)."""

    def since(db: sqlite3.Connection, seq: int, limit: int) -> list[Logged]:
        return [
            Logged(s, alarm=a, dwelling=d) for s, a, d in alarm_store.logged_since(db, seq, limit)
        ]

    return SqliteFeed("alarms", path, alarm_store.log_head, since, limit=limit, factory=factory)


def registry_feed(
    path: Path, *, limit: int = READ_LIMIT, factory: type[sqlite3.Connection] = sqlite3.Connection
) -> SqliteFeed:
    """The registry (hub.registry_changes): dwellings, contacts, routing, operators."""

    def since(db: sqlite3.Connection, seq: int, limit: int) -> list[Logged]:
        return [
            Logged(s, operator=key)
            if table in registry_changes.OPERATOR_TABLES
            else Logged(s, dwelling=key)
            for s, table, key in registry_changes.since(db, seq, limit)
        ]

    return SqliteFeed("registry", path, registry_changes.head, since, limit=limit, factory=factory)


@dataclass(frozen=True, slots=True)
class FeedStats:
    polls: int = 0
    changes: int = 0  # looks that found something
    failures: int = 0  # looks that raised (counted, logged, and the next one tried)
    last_error: str = ""


class Watcher:
    """Looks at each feed every `interval_s` on a thread of its own ("mz-watch") and
    calls `notify` on the event loop for each change found. Never blocks the loop; a
    failing look is counted and logged (WARNING once, until a look succeeds again)."""

    def __init__(
        self,
        feeds: Iterable[ChangeFeed],
        notify: Callable[[StoreChange], None],
        *,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, not {interval_s!r}")
        self._feeds = tuple(feeds)
        self._notify = notify
        self.interval_s = interval_s
        self._stats = {f.name: FeedStats() for f in self._feeds}
        self._failing: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def stats(self) -> dict[str, FeedStats]:
        return dict(self._stats)

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        """Start looking (on the running loop's behalf); nothing to do without feeds.
        After `stop`, it starts again where the feeds left off."""
        if not self._feeds or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="mz-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop looking and close the feeds; returns within the current look."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("store watcher did not stop within %.0f s", STOP_TIMEOUT_S)

    def _run(self) -> None:
        try:
            while True:
                for feed in self._feeds:
                    self._look(feed)
                if self._stop.wait(self.interval_s):
                    return
        finally:
            for feed in self._feeds:
                feed.close()

    def _look(self, feed: ChangeFeed) -> None:
        s = self._stats[feed.name]
        try:
            change = feed.read()
        except Exception as exc:  # the loop must outlive any one look
            self._stats[feed.name] = FeedStats(s.polls + 1, s.changes, s.failures + 1, str(exc))
            if feed.name not in self._failing:
                self._failing.add(feed.name)
                log.warning("watching the %s store failed: %s (retrying)", feed.name, exc)
            else:
                log.debug("watching the %s store failed again: %s", feed.name, exc)
            return
        if feed.name in self._failing:
            self._failing.discard(feed.name)
            log.info("watching the %s store works again", feed.name)
        self._stats[feed.name] = FeedStats(
            s.polls + 1, s.changes + (change is not None), s.failures, s.last_error
        )
        if change is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._deliver, change)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self._stop.set()

    def _deliver(self, change: StoreChange) -> None:
        try:
            self._notify(change)
        except Exception:
            log.warning("store change listener failed", exc_info=True)
