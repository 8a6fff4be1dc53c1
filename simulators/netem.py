"""A TCP proxy between an edge agent and its broker that a scenario can cut and restore.

Two kinds of outage, as a dwelling's 4G router produces them:

* ``blackhole`` - packets vanish: nothing is forwarded either way; new connections are
  accepted but get nowhere and are dropped when the link comes back (their SYNs were
  lost). Both ends only notice through their own timeouts (MQTT keepalive, publish ack
  timeout, CONNACK timeout), as with a dead mobile link. On restore, connections made
  before the cut resume and deliver what was held (TCP would have retransmitted it);
  ends that gave up meanwhile have closed theirs.
* ``reset`` - the link is down hard: every connection is closed at once, new ones are
  closed right after accept, until restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

Mode = Literal["blackhole", "reset"]
_CHUNK = 65536


@dataclass(slots=True)
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    bytes_up: int = 0  # client -> server
    bytes_down: int = 0
    cuts: int = 0


class TcpProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self._listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._mode: Mode | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._killed: set[asyncio.Task[None]] = set()  # cancelled by us, not by the loop
        self._writers: set[asyncio.StreamWriter] = set()
        self.stats = ProxyStats()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self._listen_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._open.set()
        self._kill_all()
        await asyncio.gather(*self._conns, return_exceptions=True)
        self._close_all_writers()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def cut(self, mode: Mode = "blackhole") -> None:
        log.info("netem: network %s", "blackholed" if mode == "blackhole" else "reset")
        self._mode = mode
        self.stats.cuts += 1
        self._open.clear()
        if mode == "reset":
            self._kill_all()
            self._close_all_writers()

    def restore(self) -> None:
        log.info("netem: network restored")
        self._mode = None
        self._open.set()

    def _kill_all(self) -> None:
        for t in list(self._conns):
            self._killed.add(t)
            t.cancel()

    def _close_all_writers(self) -> None:
        for w in list(self._writers):
            _reset(w)
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "reset":
            self.stats.refused += 1
            _reset(writer)
            return
        self.stats.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        up: list[asyncio.StreamWriter] = []
        try:
            await self._forward(reader, writer, up)
        except asyncio.CancelledError:
            # Our own cut or close: end quietly (asyncio's server callback would log a
            # cancelled handler as an error). Anyone else's cancellation propagates.
            if task not in self._killed:
                raise
        finally:
            self._conns.discard(task)
            self._killed.discard(task)
            for w in (writer, *up):
                self._writers.discard(w)
                w.close()  # FIN after what is buffered: one side closed normally

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up: list[asyncio.StreamWriter],
    ) -> None:
        if self._mode is not None:
            # A SYN sent into a blackhole is lost: the client times out and retries
            # with a new connection. Whatever it sent here never reaches the broker.
            await self._open.wait()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
            up.append(up_writer)
            self._writers.add(up_writer)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pipe(reader, up_writer, up=True))
                tg.create_task(self._pipe(up_reader, writer, up=False))
        except* (OSError, asyncio.IncompleteReadError):
            pass  # one side went away: the caller closes both

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, up: bool
    ) -> None:
        while True:
            await self._open.wait()
            data = await src.read(_CHUNK)
            if not data:
                raise ConnectionResetError("peer closed")
            # Data read just before a cut is held, not delivered: wait for the link.
            await self._open.wait()
            dst.write(data)
            with contextlib.suppress(ConnectionError):
                await dst.drain()
            if up:
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, not FIN: the link died, nobody said goodbye."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
