"""Is each dwelling online? From its retained status / last will and a heartbeat timeout.

`PresenceTracker` is the pure state machine: `observe(...)` for every valid message,
`advance(now)` as time passes; both return the transitions. An offline status (the last
will, or the edge's own goodbye) makes a dwelling offline only when nothing more is heard
of it for `offline_grace_s`: a broker's orderly shutdown fires every connected edge's
will, and a reconnecting edge's replaced connection fires its will late; neither is a
dwelling gone.

Connections: every status carries its connection's `session` id. An online status of a
new session supersedes the previous one; what arrives later from a superseded connection
(its last will, a heartbeat the network held) is old news and changes nothing, so neither
a will nor a heartbeat window of a connection the edge has already replaced can take the
dwelling offline. After a heartbeat timeout, what the dwelling made before the hub gave up
on it and the network delivers only on its return (the dead connection's held bytes) does
not bring it back either: the new connection's online status does, seconds later. So a
network cut raises one offline alarm, cleared when the dwelling is really back, and not
a second one for the gap between the held bytes and the new connection.

`PresenceMonitor` is the thin shell around it: it turns transitions into technical
alarms ("offline" raised when a dwelling goes offline, cleared when it returns), persists
the state so a hub restart does not forget it, and serves the console's board.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final, Literal

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from hub.context import AlarmSink, DwellingHealth, Registry, SensorState
from hub.errors import StorageError
from hub.leases import Lease
from hub.ops_tables import presence as presence_table
from hub.sql.engine import insert, reading, writing
from sensors.contract import Severity, Status

log = logging.getLogger(__name__)

OFFLINE_KEY: Final = "offline"  # the technical alarm's key per dwelling
DEFAULT_HEARTBEAT_S: Final = 30.0  # until a dwelling's status says otherwise

# status_offline: the last will, or the edge's own offline status on a clean stop.
# "takeover": a new owner of the presence lease bringing the alarms in line (hub.leases).
Reason = Literal["status", "status_offline", "message", "heartbeat_timeout", "takeover"]


@dataclass(frozen=True, slots=True)
class Transition:
    dwelling: str
    online: bool
    at: float
    reason: Reason
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class DwellingState:
    dwelling: str
    online: bool
    since: float | None  # when `online` last changed
    last_seen: float | None  # last message (hub receive time; source time if retained)
    deadline_base: float | None  # the heartbeat timeout counts from here
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    status_id: str | None = None  # message id of the last status applied
    online_session: str | None = None  # connection id of the last online status
    # Connections replaced by a newer one (the online status of another session), newest
    # last, at most MAX_SUPERSEDED: whatever still arrives from them is old news.
    superseded: tuple[str, ...] = ()
    # The source time (the edge's clock) of the last status applied and when it was heard
    # (the hub's clock): together they read the edge's clock at a moment of the hub's.
    status_ts: float | None = None
    status_heard: float | None = None
    uptime_s: float | None = None
    spool_depth: int | None = None
    spool_dropped: int | None = None
    sensors: tuple[SensorState, ...] = ()
    # When an offline status arrived that has not (yet) been followed by anything else.
    offline_since: float | None = None
    # Offline after a heartbeat timeout of a connection with a session: the edge's clock
    # when the hub gave up on it. Made before then and delivered only now is what the
    # network held for that dead connection: it does not bring the dwelling back.
    gave_up_at_source: float | None = None


DEFAULT_OFFLINE_GRACE_S: Final = 90.0
# A dwelling online heard again within this of its last message: its times stay. At
# most a tenth of its heartbeat timeout (`_resolution`), so a short timeout does not
# fire early by as much as this.
HEARD_RESOLUTION_S: Final = 1.0
# Replaced connections remembered per dwelling: a flapping link replaces a few in a row;
# what the network held for one arrives within seconds of its return.
MAX_SUPERSEDED: Final = 8


def _old_news(state: DwellingState, status: Status | None, made_at: float | None) -> bool:
    """A message that says nothing about the dwelling now: from a connection the edge
    has replaced, or made before the hub gave up on the connection that timed out and
    delivered only after the network's return."""
    if status is not None and status.session is not None:
        if status.session in state.superseded:
            # A connection replaced by a newer one (its heartbeat held by the network,
            # delivered after the new connection's online status).
            return True
        if (
            not status.online
            and state.online_session is not None
            and status.session != state.online_session
        ):
            # The last will of a connection the edge has since replaced (the broker
            # notices the dead link only after the new one is up).
            return True
    if state.online or state.gave_up_at_source is None:
        return False
    if status is not None:
        if status.session != state.online_session:
            return False  # a new connection: the dwelling is back
        return status.ts < state.gave_up_at_source
    return made_at is not None and made_at < state.gave_up_at_source


_FIELDS: Final = tuple(f.name for f in fields(DwellingState))
_LAST_SEEN: Final = _FIELDS.index("last_seen")
_DEADLINE_BASE: Final = _FIELDS.index("deadline_base")
_values: Final = operator.attrgetter(*_FIELDS)


def _heard_recently(state: DwellingState, now: float, resolution: float) -> bool:
    """Both times `_heard_again` would move already within `resolution` of `now`."""
    return (
        state.last_seen is not None
        and state.deadline_base is not None
        and now - resolution < state.last_seen
        and now - resolution < state.deadline_base
    )


def _heard_again(state: DwellingState, now: float) -> DwellingState:
    """`state` with a message heard at `now` (`replace` would do; this is half its cost)."""
    values = list(_values(state))
    if state.last_seen is None or state.last_seen < now:
        values[_LAST_SEEN] = now
    if state.deadline_base is None or state.deadline_base < now:
        values[_DEADLINE_BASE] = now
    return DwellingState(*values)


class PresenceTracker:
    """Pure: no clock, no I/O. Time comes in as arguments."""

    def __init__(
        self,
        *,
        heartbeat_factor: float,
        started_at: float,
        offline_grace_s: float = DEFAULT_OFFLINE_GRACE_S,
    ) -> None:
        self._factor = heartbeat_factor
        self._started_at = started_at
        self._grace = offline_grace_s
        self._states: dict[str, DwellingState] = {}

    def restore(self, states: Iterable[DwellingState]) -> None:
        """Take over persisted states; an online dwelling gets a full timeout window
        from `started_at`, since the hub heard nothing while it was down."""
        self._states.update((s.dwelling, s) for s in states)
        self.resume(self._started_at)

    def observe(
        self,
        dwelling: str,
        now: float,
        *,
        status: Status | None = None,
        retained: bool = False,
        after_goodbye: bool = True,
        made_at: float | None = None,
    ) -> list[Transition]:
        """`after_goodbye`: the message shows the edge alive after an offline status
        (False for readings: the readings session may deliver a backlog from before the
        goodbye long after it). `made_at`: a message's source time (its `ts`, the edge's
        clock), for messages other than status."""
        prev = self._states.get(dwelling)
        if prev is not None and prev.online and status is None and not after_goodbye:
            # The common case by far (a reading batch from a dwelling online): only the
            # times move, nothing else can (what follows, for these arguments, decides so),
            # and by less than HEARD_RESOLUTION_S is not worth a new state (a backlog
            # drained after an outage brings a dwelling's batches one after the other).
            resolution = min(HEARD_RESOLUTION_S, prev.heartbeat_s * self._factor / 10)
            if not _heard_recently(prev, now, resolution):
                self._states[dwelling] = _heard_again(prev, now)
            return []
        state = prev or DwellingState(dwelling, False, None, None, None)
        if _old_news(state, status, made_at):
            return []  # refreshes no deadline either: it proves nothing about now
        heard = now
        if retained and status is not None:
            # A retained status proves nothing about now: it may be hours old. It counts
            # from its own time, but never from before the hub started.
            heard = max(min(status.ts, now), self._started_at)
        last_seen = heard if state.last_seen is None else max(state.last_seen, heard)
        base = heard if state.deadline_base is None else max(state.deadline_base, heard)
        state = replace(state, last_seen=last_seen, deadline_base=base)

        goes_online: bool | None = True
        reason: Reason = "message"
        if status is not None:
            if retained and status.id == state.status_id:
                # The retained copy of the status already applied, sent again on
                # (re)subscribing: what happened since (a heartbeat timeout) stands.
                goes_online = None
            else:
                # Otherwise the newest status wins: live ones arrive in publish order, and
                # a retained one is the newest on its topic. Not compared by `ts`: the
                # last will is made when the edge connects, so it is older than the
                # heartbeats before it fires.
                state = replace(
                    state,
                    status_id=status.id,
                    heartbeat_s=status.heartbeat_s,
                    uptime_s=status.uptime_s,
                    spool_depth=status.spool_depth,
                    spool_dropped=status.spool_dropped,
                    sensors=tuple(
                        SensorState(s.sensor, s.kind, s.state, s.last_seen, s.battery)
                        for s in status.sensors
                    ),
                )
                goes_online = status.online
                reason = "status" if status.online else "status_offline"
                if status.online:
                    old = state.online_session
                    superseded = state.superseded
                    if status.session is not None and old is not None and old != status.session:
                        # A new connection: the old one is replaced, for good.
                        superseded = (*superseded, old)[-MAX_SUPERSEDED:]
                    state = replace(
                        state,
                        online_session=status.session,
                        superseded=superseded,
                        # Not from a will: its time is when its connection was made.
                        status_ts=status.ts,
                        status_heard=heard,
                    )
                elif state.online and self._grace > 0:
                    # Offline only if nothing more is heard within the grace (see above).
                    if state.offline_since is None:
                        state = replace(state, offline_since=now)
                    goes_online = None
        if goes_online and (status is not None or after_goodbye):
            state = replace(state, offline_since=None)

        transitions: list[Transition] = []
        # A dwelling heard of for the first time always yields a transition, so the
        # (idempotent) alarm side is brought in line with what the hub now knows.
        if goes_online is not None and (prev is None or goes_online != state.online):
            state = replace(state, online=goes_online, since=now, gave_up_at_source=None)
            transitions.append(Transition(dwelling, goes_online, now, reason, last_seen))
        self._states[dwelling] = state
        return transitions

    def advance(self, now: float) -> list[Transition]:
        transitions: list[Transition] = []
        for dwelling, s in list(self._states.items()):
            if s.online and s.offline_since is not None:
                # Said goodbye: the grace decides, not the heartbeat.
                if now - s.offline_since >= self._grace:
                    self._states[dwelling] = replace(s, online=False, since=now, offline_since=None)
                    transitions.append(
                        Transition(dwelling, False, now, "status_offline", s.last_seen)
                    )
                continue
            if not s.online or s.deadline_base is None:
                continue
            deadline = s.deadline_base + s.heartbeat_s * self._factor
            if now > deadline:
                gave_up = None
                if s.online_session is not None and s.status_ts is not None:
                    # The edge's clock at the deadline, read through its last online status
                    # (the clock of everything it sends, so its skew cancels out).
                    heard = deadline if s.status_heard is None else s.status_heard
                    gave_up = s.status_ts + (deadline - heard)
                self._states[dwelling] = replace(
                    s, online=False, since=now, gave_up_at_source=gave_up
                )
                transitions.append(
                    Transition(dwelling, False, now, "heartbeat_timeout", s.last_seen)
                )
        return transitions

    def resume(self, now: float) -> None:
        """The hub hears the broker again after not hearing anything (its own session was
        down, e.g. a broker restart): silence meanwhile proves nothing about a dwelling,
        so every timeout and grace counts from `now`."""
        for dwelling, s in list(self._states.items()):
            base = None if s.deadline_base is None else max(s.deadline_base, now)
            pending = None if s.offline_since is None else max(s.offline_since, now)
            self._states[dwelling] = replace(s, deadline_base=base, offline_since=pending)

    def state(self, dwelling: str) -> DwellingState | None:
        return self._states.get(dwelling)

    def states(self) -> list[DwellingState]:
        return list(self._states.values())

    def forget(self, dwelling: str) -> None:
        self._states.pop(dwelling, None)


class PresenceStore:
    """Last-known presence per dwelling, as JSON rows (read once at start-up)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self) -> list[DwellingState]:
        out = []
        with reading(self._engine) as conn:
            rows = conn.execute(select(presence_table.c.dwelling, presence_table.c.state)).all()
        for dwelling, raw in rows:
            d = json.loads(raw)
            d["sensors"] = tuple(SensorState(**s) for s in d.get("sensors", ()))
            d["superseded"] = tuple(d.get("superseded", ()))
            out.append(DwellingState(dwelling=dwelling, **d))
        return out

    def save(self, states: Iterable[DwellingState]) -> None:
        rows = []
        for s in states:
            d: dict[str, Any] = {
                "online": s.online,
                "since": s.since,
                "last_seen": s.last_seen,
                "deadline_base": s.deadline_base,
                "heartbeat_s": s.heartbeat_s,
                "status_id": s.status_id,
                "online_session": s.online_session,
                "superseded": list(s.superseded),
                "status_ts": s.status_ts,
                "status_heard": s.status_heard,
                "gave_up_at_source": s.gave_up_at_source,
                "uptime_s": s.uptime_s,
                "spool_depth": s.spool_depth,
                "spool_dropped": s.spool_dropped,
                "offline_since": s.offline_since,
                "sensors": [
                    {
                        "sensor": x.sensor,
                        "kind": x.kind,
                        "state": x.state,
                        "last_seen": x.last_seen,
                        "battery": x.battery,
                    }
                    for x in s.sensors
                ],
            }
            rows.append({"dwelling": s.dwelling, "state": json.dumps(d)})
        if not rows:
            return
        try:
            with writing(self._engine) as conn:
                stmt = insert(conn, presence_table)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["dwelling"], set_={"state": stmt.excluded.state}
                    ),
                    rows,
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"saving presence: {exc}") from exc

    def delete(self, dwellings: Iterable[str]) -> None:
        gone = list(dwellings)
        if not gone:
            return
        try:
            with writing(self._engine) as conn:
                conn.execute(delete(presence_table).where(presence_table.c.dwelling.in_(gone)))
        except SQLAlchemyError as exc:
            raise StorageError(f"deleting presence: {exc}") from exc

    def close(self) -> None:
        """The engine is the caller's: nothing of our own to close."""


class PresenceMonitor:
    """Implements hub.context.Presence; raises and clears the "offline" technical alarm."""

    def __init__(
        self,
        tracker: PresenceTracker,
        store: PresenceStore,
        alarms: AlarmSink,
        registry: Registry,
        *,
        clock: Callable[[], float],
        lease: Lease | None = None,
    ) -> None:
        self._tracker = tracker
        self._store = store
        self._alarms = alarms
        self._registry = registry
        self._clock = clock
        # board() is called from the console, possibly from a worker thread.
        self._lock = threading.Lock()
        # One transition and its alarm call at a time: a tick's "offline" and a returning
        # edge's "online" must not interleave across the alarm store's awaits (an open
        # offline alarm left behind for a dwelling that shows online).
        self._serial = asyncio.Lock()
        # With several hub workers every one tracks every dwelling (status is not a
        # shared subscription), but only the lease's owner raises and clears alarms and
        # saves the state. Without a lease this process is the only one.
        self._lease = lease
        self.owner = lease is None
        with self._lock:
            self._tracker.restore(store.load())

    async def observe(
        self,
        dwelling: str,
        now: float,
        status: Status | None,
        retained: bool,
        *,
        after_goodbye: bool = True,
        made_at: float | None = None,
    ) -> None:
        async with self._serial:
            with self._lock:
                transitions = self._tracker.observe(
                    dwelling,
                    now,
                    status=status,
                    retained=retained,
                    after_goodbye=after_goodbye,
                    made_at=made_at,
                )
                state = self._tracker.state(dwelling)
            await self._apply(transitions)
            # Health from a status is worth keeping across restarts; a plain reading is
            # not (the timeout restarts from the hub's start anyway): no write for it.
            if self.owner and (transitions or status is not None) and state is not None:
                self._store.save([state])

    async def observe_readings(self, made_at: Mapping[str, float], now: float) -> None:
        """Reading batches just stored, the newest source time per dwelling: `observe`
        for each (after_goodbye=False), under one lock and one save for the lot."""
        async with self._serial:
            transitions: list[Transition] = []
            changed: list[DwellingState] = []
            with self._lock:
                for dwelling, ts in made_at.items():
                    moved = self._tracker.observe(dwelling, now, after_goodbye=False, made_at=ts)
                    if moved:
                        transitions += moved
                        state = self._tracker.state(dwelling)
                        if state is not None:
                            changed.append(state)
            await self._apply(transitions)
            if self.owner and changed:
                self._store.save(changed)

    async def tick(self, now: float) -> list[Transition]:
        async with self._serial:
            return await self._tick(now)

    async def _tick(self, now: float) -> list[Transition]:
        with self._lock:
            transitions = self._tracker.advance(now)
        # A dwelling removed from the registry (`mz admin dwelling remove`) falls silent
        # as a matter of course: forget it rather than raise an alarm nobody can act on.
        gone = {t.dwelling for t in transitions if self._registry.dwelling(t.dwelling) is None}
        if gone:
            with self._lock:
                for dwelling in gone:
                    self._tracker.forget(dwelling)
            self._store.delete(gone)
            transitions = [t for t in transitions if t.dwelling not in gone]
        with self._lock:
            changed = [s for t in transitions if (s := self._tracker.state(t.dwelling))]
        await self._apply(transitions)
        if changed and self.owner:
            self._store.save(changed)
        return transitions

    async def hold_lease(self, now: float) -> None:
        """Renew or take the lease. On taking it over, raise the offline alarm for every
        dwelling this worker sees offline (the previous owner may have died between the
        transition and its alarm; raising is idempotent). Nothing is cleared on a
        takeover: this worker may not have watched a dwelling for a whole window yet
        (a restart gives every dwelling a fresh one), and an alarm is cleared only by the
        dwelling being heard again."""
        if self._lease is None:
            return
        was = self.owner
        try:
            self.owner = await asyncio.to_thread(self._lease.hold, now)
        except StorageError:
            log.warning("presence lease: store unreachable; not the owner meanwhile")
            self.owner = False
        if self.owner and not was:
            log.info("presence: this worker (%s) owns the offline alarms", self._lease.holder)
            async with self._serial:
                with self._lock:
                    states = self._tracker.states()
                await self._apply(
                    [
                        Transition(s.dwelling, False, now, "takeover", s.last_seen)
                        for s in states
                        if not s.online and self._registry.dwelling(s.dwelling) is not None
                    ]
                )

    async def run(
        self, stop: asyncio.Event, interval_s: float, hearing: asyncio.Event | None = None
    ) -> None:
        """Tick until `stop`. While `hearing` is clear (the hub's own MQTT session is
        down) nothing times out; when it is set again, every window restarts."""
        deaf = False
        while not stop.is_set():
            if hearing is not None and not hearing.is_set():
                deaf = True
            else:
                if deaf:
                    deaf = False
                    with self._lock:
                        self._tracker.resume(self._clock())
                await self.hold_lease(self._clock())
                await self.tick(self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
        if self._lease is not None and self.owner:
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(self._lease.release)
            self.owner = False

    async def _apply(self, transitions: list[Transition]) -> None:
        # The alarm call comes before the state is saved: after a crash in between, the
        # transition is derived again and the (idempotent) alarm call repeated.
        if not self.owner:
            return
        for t in transitions:
            if t.online:
                log.info("dwelling %s online (%s)", t.dwelling, t.reason)
                await self._alarms.clear_technical(t.dwelling, OFFLINE_KEY, t.at)
            else:
                log.warning("dwelling %s offline (%s)", t.dwelling, t.reason)
                detail: dict[str, float | int | bool | str | None] = {
                    "reason": t.reason,
                    "last_seen": t.last_seen,
                }
                await self._alarms.raise_technical(
                    t.dwelling, OFFLINE_KEY, Severity.MEDIUM, detail, t.at
                )

    def board(self) -> list[DwellingHealth]:
        with self._lock:
            states = {s.dwelling: s for s in self._tracker.states()}
        out = []
        for d in self._registry.dwellings():
            s = states.get(d.id)
            if s is None:
                out.append(DwellingHealth(d.id, online=False, last_seen=None, since=None))
                continue
            out.append(
                DwellingHealth(
                    dwelling=d.id,
                    online=s.online,
                    last_seen=s.last_seen,
                    since=s.since,
                    uptime_s=s.uptime_s,
                    spool_depth=s.spool_depth,
                    spool_dropped=s.spool_dropped,
                    sensors=s.sensors,
                )
            )
        return out

    def state(self, dwelling: str) -> DwellingState | None:
        with self._lock:
            return self._tracker.state(dwelling)

    def close(self) -> None:
        self._store.close()
