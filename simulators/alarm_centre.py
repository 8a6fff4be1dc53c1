"""A simulated alarm receiving centre (alarmmeldpunt): a small SIA DC-09 receiver over TCP.

Built on our own codec (alerts.dc09.codec), so it reads exactly the bytes the hub sends.
It answers every frame the way a receiver does (DC-09 §5.5.2):

- ACK: a valid ADM-CID event or NULL link test (encrypted back when the message was);
- NAK: a damaged frame (framing, length, CRC) or a timestamp more than `max_skew_s` off its
  clock (the NAK carries its own time), or an encrypted frame without one;
- DUH: an account it does not know (when `accounts` is given), a clear-text frame for an
  account that has a key, a frame it cannot decrypt, a message type other than ADM-CID/NULL.

Unlike pysiaalarm it splits a TCP stream into frames at each CR, so it also takes several
frames on one connection. Every event it ACKs is kept in `events`, repeats included: a
transmitter that sends an event twice shows up as two entries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.dc09.codec import (
    FrameHeader,
    SiaEvent,
    encode_ack,
    encode_duh,
    encode_nak,
    parse_event,
    parse_header,
)
from alerts.dc09.errors import Dc09FrameError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    account: str
    seq: int
    event: SiaEvent
    received_at: float  # the centre's clock
    encrypted: bool
    sent_at: float | None = None  # the frame's own timestamp


class AlarmCentre:
    """`keys`: account -> AES key string (as the transmitter has it); `accounts`: when given,
    the only accounts it takes (others get DUH); None takes any."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        *,
        accounts: Collection[str] | None = None,
        receiver_no: str = "0",
        prefix: str = "0",
        max_skew_s: float = 40.0,
    ) -> None:
        self.host = host
        self.port = port
        self._keys = {a: k.encode("ascii") for a, k in (keys or {}).items()}
        self._clock = clock
        self._accounts = None if accounts is None else frozenset(accounts)
        self._receiver_no = receiver_no
        self._prefix = prefix
        self._max_skew_s = max_skew_s
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._listeners: list[Callable[[ReceivedEvent], None]] = []
        self.events: list[ReceivedEvent] = []
        self.link_tests = 0
        self.acks = 0
        self.naks = 0
        self.duhs = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    def add_listener(self, cb: Callable[[ReceivedEvent], None]) -> None:
        """`cb(event)` for every event the centre ACKs, in the event loop."""
        self._listeners.append(cb)

    async def start(self) -> int:
        """Listen (again, on the same port after a stop); returns the bound port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            self.port = int(self._server.sockets[0].getsockname()[1])
            log.info("alarm centre listening on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):  # Python >= 3.12 waits for open connections
            writer.close()
        await server.wait_closed()
        log.info("alarm centre on port %d stopped", self.port)

    async def __aenter__(self) -> AlarmCentre:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        buf = b""
        try:
            while self._server is not None:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                buf += chunk
                while (end := buf.find(b"\r")) >= 0:
                    frame, buf = buf[: end + 1], buf[end + 1 :]
                    start = frame.find(b"\n")
                    writer.write(self.answer(frame[max(start, 0) :]))
                    await writer.drain()
        except OSError:
            pass  # the transmitter went away: nothing to answer
        finally:
            self._writers.discard(writer)
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    def answer(self, frame: bytes) -> bytes:
        """The response to one frame (LF ... CR), recording what it ACKs."""
        now = self._clock()
        at = datetime.fromtimestamp(now, tz=UTC)
        try:
            head = parse_header(frame)
        except Dc09FrameError as exc:
            return self._nak(at, str(exc))
        if head.account is None or head.seq == 0:
            return self._nak(at, "no account or no sequence number")
        if self._accounts is not None and head.account not in self._accounts:
            return self._duh(head, f"unknown account {head.account}")
        key = self._keys.get(head.account)
        if key is not None and not head.encrypted:
            return self._duh(head, f"account {head.account} must send encrypted")
        try:
            parsed = parse_event(frame, keys=self._keys)
        except Dc09FrameError as exc:
            if exc.problem in ("crc", "length", "format"):
                return self._nak(at, str(exc))
            return self._duh(head, str(exc))
        if parsed.timestamp is None and parsed.encrypted:
            return self._nak(at, "encrypted frame without a timestamp")
        sent_at = None if parsed.timestamp is None else parsed.timestamp.timestamp()
        if sent_at is not None and abs(sent_at - now) > self._max_skew_s:
            return self._nak(at, f"timestamp {parsed.timestamp} is off by {sent_at - now:+.0f} s")
        if parsed.event is None:
            self.link_tests += 1
        else:
            received = ReceivedEvent(
                parsed.account, parsed.seq, parsed.event, now, parsed.encrypted, sent_at
            )
            self.events.append(received)
            log.info(
                "alarm centre: event %d%03d zone %03d of account %s (seq %04d)",
                parsed.event.qualifier,
                parsed.event.code,
                parsed.event.zone,
                parsed.account,
                parsed.seq,
            )
            for cb in list(self._listeners):
                try:
                    cb(received)
                except Exception:
                    log.exception("alarm centre listener failed")
        self.acks += 1
        return encode_ack(
            seq=parsed.seq,
            receiver=head.receiver,
            prefix=head.prefix or self._prefix,
            account=parsed.account,
            at=at,
            key=key if parsed.encrypted else None,
        )

    def _nak(self, at: datetime, why: str) -> bytes:
        self.naks += 1
        log.warning("alarm centre: NAK (%s)", why)
        return encode_nak(receiver=self._receiver_no, prefix=self._prefix, at=at)

    def _duh(self, head: FrameHeader, why: str) -> bytes:
        self.duhs += 1
        log.warning("alarm centre: DUH (%s)", why)
        assert head.account is not None
        return encode_duh(
            seq=head.seq,
            receiver=head.receiver,
            prefix=head.prefix or self._prefix,
            account=head.account,
        )
