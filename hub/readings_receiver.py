"""The readings session in a process of its own, so that reading and decoding MQTT and
storing readings run on two cores.

Reading a message off the socket costs paho about as much Python as the hub's whole
processing of it; in one process both hold the one interpreter lock. Here a child process
holds the readings connection (a `BulkSession`, paho's thread, manual acknowledgements),
decodes the reading batches as they arrive (`contract.canonical_readings`) and passes
them to the hub over a pipe, in bursts; the hub sends back the ids to acknowledge once
their batch is durable. `ReceiverSession` offers the hub the same calls as `BulkSession`;
`[broker] readings_receiver` chooses it ("auto", the default, on two cores or more).
Measured, it takes SQLite ingest from 0.38-0.45 of a plain subscriber's rate to
0.51-0.65 (docs/hub.md, "Ingest in batches").

Nothing is acknowledged that the hub has not stored: the child acknowledges only the ids
the hub sends it, on the connection they came in on (one child is one connection; it
exits when that connection ends). When either side dies the other sees the pipe close:
the hub ends the session (and opens a new one, with a new child), the child disconnects
and exits, and the broker delivers again what was not acknowledged.

Pipe messages, each a (kind, body) pair pickled by multiprocessing:

    child -> hub   ("up", None)              connected (CONNACK)
                   ("messages", [(topic, payload, retained, mid, qos, lean), ...]),
                                             per "more"; `lean`: `canonical_readings`
                   ("done", None | error)    the last subscribe / unsubscribe
                   ("lost", why)             the connection ended; the child exits
    hub -> child   ("subscribe", [topic, ...]), ("unsubscribe", [topic, ...])
                   ("more", None)            send what has arrived (or the next to arrive)
                   ("ack", [(mid, qos), ...])
                   ("close", None)           disconnect and exit
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Final

import aiomqtt

from hub.broker_tls import tls_context
from hub.bulk_session import HANDSHAKE_TIMEOUT_S, BulkSession, Received, first_of, take
from hub.config import BrokerSettings
from sensors.contract import Channel, Readings, canonical_readings

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 30.0  # the process started and connected (CONNACK)
STOP_TIMEOUT_S: Final = 5.0  # then it is killed
FORWARD_MAX: Final = 1000  # messages per pipe message at most
DECODE_CHUNK: Final = 50  # decoded between two looks at the hub's requests
READINGS: Final = f"/{Channel.READINGS.value}"
# (topic, payload, retained, mid, qos, lean): one message on the pipe, as `Received`
Forwarded = tuple[str, bytes, bool, int, int, Readings | None]


def _context() -> BaseContext:
    """A fork server: each session's child is forked from a small clean process that has
    imported this module once (no copy of the hub's threads, stores or sockets)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


class ReceiverSession:
    """The hub's end: `BulkSession`'s calls, over the pipe to the child."""

    def __init__(self, broker: BrokerSettings, client_id: str) -> None:
        self._broker = broker
        self._client_id = client_id
        self._loop = asyncio.get_running_loop()
        self._inbox: collections.deque[Received] = collections.deque()
        self._arrived = asyncio.Event()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self._up: asyncio.Future[None] = self._loop.create_future()
        self._replies: collections.deque[asyncio.Future[None]] = collections.deque()
        self._acks: list[tuple[int, int]] = []
        self._asked = False  # a "more" is out and unanswered
        self._conn: Connection | None = None
        self._proc: BaseProcess | None = None

    async def __aenter__(self) -> ReceiverSession:
        ctx = _context()
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(theirs, self._broker, self._client_id),
            name=f"mz-readings-{self._client_id}",
            daemon=True,
        )
        self._proc, self._conn = proc, mine
        try:
            await asyncio.to_thread(proc.start)
            theirs.close()
            self._loop.add_reader(mine.fileno(), self._readable)
            await asyncio.wait_for(asyncio.shield(self._up), START_TIMEOUT_S)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int | None:
        """The receiver process's id (None before it started)."""
        return None if self._proc is None else self._proc.pid

    async def subscribe(self, topics: list[str]) -> None:
        if topics:
            await self._ask(("subscribe", topics))

    async def unsubscribe(self, topics: list[str]) -> None:
        if topics:
            await self._ask(("unsubscribe", topics))

    async def batch(self, limit: int, stop: asyncio.Event) -> list[Received]:
        if len(self._inbox) <= limit and not self._asked:
            # Asked for when this batch takes the last of what is here: the next burst is
            # on its way while this one is processed, and what arrived meanwhile comes in
            # one pipe message, not one per message (the hub pays per pipe message).
            self._asked = True
            self._send(("more", None))
        return await take(self._inbox, self._arrived, self._closed, limit, stop)

    def ack(self, message: Received) -> None:
        """Acknowledge `message`: sent on with the rest of its batch, once the caller
        yields (one pipe message per batch, not per message)."""
        self._acks.append((message.mid, message.qos))
        if len(self._acks) == 1:
            self._loop.call_soon(self._send_acks)

    async def close(self) -> None:
        self._send_acks()  # durable already: tell the broker before going
        self._send(("close", None))
        proc = self._proc
        if proc is not None and proc.pid is not None:
            await asyncio.to_thread(proc.join, STOP_TIMEOUT_S)
            if proc.is_alive():
                log.warning("readings receiver %s did not stop: killed", proc.pid)
                proc.kill()
                await asyncio.to_thread(proc.join, STOP_TIMEOUT_S)
        self._lost("closed")
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the pipe ------------------------------------------------------------------------

    async def _ask(self, request: tuple[str, Any]) -> None:
        fut = self._loop.create_future()
        self._replies.append(fut)
        self._send(request)
        await asyncio.wait_for(fut, HANDSHAKE_TIMEOUT_S + 1)

    def _send(self, request: tuple[str, Any]) -> None:
        if self._conn is None or self._closed.done():
            return
        try:
            self._conn.send(request)
        except OSError as exc:  # the child is gone: the reader sees the pipe end too
            self._lost(f"the readings receiver process ended ({exc})")

    def _send_acks(self) -> None:
        if self._acks:
            acks, self._acks = self._acks, []
            self._send(("ack", acks))

    def _readable(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            while conn.poll():
                kind, body = conn.recv()
                if kind == "messages":
                    self._inbox.extend(map(Received._make, body))
                    self._asked = False
                    self._arrived.set()
                elif kind == "done":
                    reply = self._replies.popleft()
                    if body is None:
                        reply.set_result(None)
                    else:
                        reply.set_exception(aiomqtt.MqttError(body))
                elif kind == "up":
                    if not self._up.done():
                        self._up.set_result(None)
                elif kind == "lost":
                    self._lost(body)
                    return
        except (EOFError, OSError):
            self._lost("the readings receiver process ended")

    def _lost(self, why: str) -> None:
        if self._conn is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._conn.fileno())
        if not self._closed.done():
            self._closed.set_result(why)
        self._arrived.set()
        for fut in (self._up, *self._replies):
            if not fut.done():
                fut.set_exception(aiomqtt.MqttError(why))
        self._replies.clear()


# -- the child process ---------------------------------------------------------------------


def child_main(conn: Connection, broker: BrokerSettings, client_id: str) -> None:
    """The receiver process: one readings connection, until it or the pipe ends."""
    # Ctrl-C reaches the whole process group: the hub stops, and closes this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        asyncio.run(_serve(conn, broker, client_id))
    finally:
        conn.close()


async def _serve(conn: Connection, broker: BrokerSettings, client_id: str) -> None:
    loop = asyncio.get_running_loop()
    requests: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    gone = asyncio.Event()  # the hub closed the pipe (or asked to close)

    def readable() -> None:
        try:
            while conn.poll():
                requests.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            gone.set()

    loop.add_reader(conn.fileno(), readable)
    tls = tls_context(broker) if broker.tls else None
    try:
        async with BulkSession(broker, client_id, tls) as session:
            _tell(conn, ("up", None))
            wanted = asyncio.Event()
            forwarding = asyncio.create_task(_forward(session, conn, wanted, gone))
            try:
                await _obey(session, conn, requests, wanted, gone, forwarding)
            finally:
                gone.set()
                wanted.set()
                with contextlib.suppress(aiomqtt.MqttError):
                    await forwarding
    except aiomqtt.MqttError as exc:
        _tell(conn, ("lost", str(exc)))
    except Exception as exc:  # a bad TLS file, a bug: the hub logs it and starts over
        _tell(conn, ("lost", f"readings receiver failed: {exc!r}"))


async def _forward(
    session: BulkSession, conn: Connection, wanted: asyncio.Event, gone: asyncio.Event
) -> None:
    """Decodes what arrives as it arrives, and sends it on to the hub each time it asks
    for more, in one pipe message: the hub processes one burst while the next is read
    and decoded here. What is not yet decoded when the hub asks goes as it is (the hub
    decodes it): whichever of the two processes has time does the decoding. `wanted` is
    set with `gone` too (`_serve`)."""
    ready: collections.deque[Forwarded] = collections.deque()
    try:
        while not gone.is_set():
            if wanted.is_set() and (ready or session.waiting):
                wanted.clear()
                burst = [ready.popleft() for _ in range(min(FORWARD_MAX, len(ready)))]
                burst += [_as_is(m) for m in session.take_now(FORWARD_MAX - len(burst))]
                _tell(conn, ("messages", burst))
                continue
            if len(ready) >= FORWARD_MAX:  # decoded far enough ahead: wait for the hub
                await first_of(wanted.wait(), gone.wait())
                continue
            # A few at a time, so that a "more" is answered soon. With something to
            # send, a "more" ends the wait; else only new messages (or the end) do.
            taken = await session.batch(DECODE_CHUNK, wanted if ready else gone)
            ready.extend(_forwarded(m) for m in taken)
    except aiomqtt.MqttError as exc:
        _tell(conn, ("lost", str(exc)))
        gone.set()
    except Exception as exc:  # a bug: the hub must not wait for more that never comes
        _tell(conn, ("lost", f"readings receiver failed: {exc!r}"))
        gone.set()


def _as_is(m: Received) -> Forwarded:
    return (m.topic, m.payload, m.retained, m.mid, m.qos, None)


def _forwarded(m: Received) -> Forwarded:
    """What the hub is sent of one message. A reading batch is decoded here, on this
    process's core: the hub is left the checks that need its state and clock
    (hub.ingest), and no model object crosses the pipe."""
    lean = canonical_readings(m.payload) if m.topic.endswith(READINGS) else None
    return (m.topic, m.payload, m.retained, m.mid, m.qos, lean)


async def _obey(
    session: BulkSession,
    conn: Connection,
    requests: asyncio.Queue[tuple[str, Any]],
    wanted: asyncio.Event,
    gone: asyncio.Event,
    forwarding: asyncio.Task[None],
) -> None:
    while not gone.is_set():
        getting = asyncio.ensure_future(requests.get())
        ending = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({getting, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
        if not getting.done():
            getting.cancel()
            return
        kind, body = getting.result()
        if kind == "ack":
            for mid, qos in body:
                session.ack_id(mid, qos)
        elif kind == "more":
            wanted.set()
        elif kind in ("subscribe", "unsubscribe"):
            try:
                await (session.subscribe if kind == "subscribe" else session.unsubscribe)(body)
            except aiomqtt.MqttError as exc:
                _tell(conn, ("done", str(exc)))
            else:
                _tell(conn, ("done", None))
        elif kind == "close":
            return
        if forwarding.done():
            return


def _tell(conn: Connection, message: tuple[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the hub is gone: nothing to tell
        conn.send(message)
