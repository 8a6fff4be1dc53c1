"""The DC-09 link to the alarm receiving centre: frames over TCP, ACKs back. asyncio I/O.

One message at a time (a lock): receivers such as pysiaalarm read a TCP segment as one
message, so two frames in one write lose both. Each message gets a fresh TCP connection;
the receiver's answer (ACK, NAK or DUH) comes back on it and the connection closes.

Retries (`Dc09Link.send`): the primary receiver `attempts_per_receiver` times, waiting
`backoff_s`, 2x, 4x ... between attempts; then the backup the same way. A NAK is retried
with a fresh timestamp (receivers NAK a timestamp off their clock); a refused connection,
a timeout and a garbled answer are failed attempts too. Nobody acknowledging raises
`Dc09DeliveryError(retryable=True)`, a DUH `Dc09DeliveryError(retryable=False)`.

Link tests (`run_link_tests`): a NULL message at once and every `link_test_interval_s`,
one attempt per receiver (a link test never holds the lock through backoff while an alarm
waits). The link is reachable after any ACK and unreachable after a send or link test that
no receiver acknowledged; listeners hear of every change.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from alerts.dc09.codec import (
    MAX_LENGTH,
    MAX_SEQ,
    Response,
    SiaEvent,
    encode_event,
    encode_null,
    parse_response,
)
from alerts.dc09.errors import Dc09DeliveryError, Dc09FrameError

log = logging.getLogger(__name__)

_PAD_ALPHABET: Final = string.ascii_letters + string.digits  # never '|', '[' or ']'
_KEY_LENGTHS: Final = frozenset({16, 24, 32})


@dataclass(frozen=True, slots=True)
class Receiver:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to reach the alarm centre. `keys`: account -> AES key string (its ASCII bytes
    are the key: 16, 24 or 32 characters); an account without a key is sent in clear."""

    primary: Receiver
    backup: Receiver | None = None
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    receiver_no: str = "0"  # the "R" of the frame: the receiver number the centre assigned
    prefix: str = "0"  # the "L": account prefix / line number
    ack_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    attempts_per_receiver: int = 2
    backoff_s: float = 1.0
    link_test_interval_s: float = 60.0
    link_test_account: str = "0000"

    def __post_init__(self) -> None:
        for account, key in self.keys.items():
            # Never the key itself in the message: only its account and length.
            if not key.isascii() or len(key) not in _KEY_LENGTHS:
                raise ValueError(
                    f"the AES key of account {account!r} must be 16, 24 or 32 ASCII "
                    f"characters, not {len(key)}"
                )
        if self.attempts_per_receiver < 1:
            raise ValueError("attempts_per_receiver must be at least 1")
        if min(self.ack_timeout_s, self.connect_timeout_s, self.link_test_interval_s) <= 0:
            raise ValueError("timeouts and the link test interval must be positive")
        if self.backoff_s < 0:
            raise ValueError("backoff_s must not be negative")
        # The codec checks the formats; fail here, at start, rather than at the first alarm.
        for account in (self.link_test_account, *self.keys):
            encode_null(
                seq=1,
                receiver=self.receiver_no,
                prefix=self.prefix,
                account=account,
                at=datetime(2000, 1, 1, tzinfo=UTC),
                key=None,
            )

    @property
    def receivers(self) -> tuple[Receiver, ...]:
        return (self.primary,) if self.backup is None else (self.primary, self.backup)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message acknowledged: by which receiver, when (the link's clock), after how many tries."""

    receiver: Receiver
    acked_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class LinkState:
    """reachable: the last send or link test was acknowledged (False before the first one:
    checked_at None). receiver: who answered it."""

    reachable: bool
    receiver: Receiver | None
    last_ack_at: float | None
    last_error: str | None
    checked_at: float | None


class Dc09Link:
    def __init__(self, settings: LinkSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._keys = {account: key.encode("ascii") for account, key in settings.keys.items()}
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[LinkState], None]] = []
        self._known: bool | None = None  # None: never checked
        self._state = LinkState(False, None, None, None, None)
        self._null_seq = 0

    @property
    def settings(self) -> LinkSettings:
        return self._settings

    def state(self) -> LinkState:
        return self._state

    def add_listener(self, cb: Callable[[LinkState], None]) -> None:
        """`cb(state)` runs when `reachable` changes (and when it is first known)."""
        self._listeners.append(cb)

    async def send(self, event: SiaEvent, *, seq: int) -> Delivery:
        """Deliver one event; its sequence number `seq` (1-9999) is the caller's to keep."""
        key = self._keys.get(event.account)
        s = self._settings

        def frame() -> bytes:
            return encode_event(
                event,
                seq=seq,
                receiver=s.receiver_no,
                prefix=s.prefix,
                at=self._now(),
                key=key,
                pad=_pad() if key is not None else None,
            )

        what = f"event {event.qualifier}{event.code:03d} of account {event.account}"
        return await self._deliver(frame, what, seq, event.account, key, s.attempts_per_receiver)

    async def link_test(self) -> bool:
        """One NULL message now (one attempt per receiver); True if it was acknowledged."""
        s = self._settings
        account = s.link_test_account
        key = self._keys.get(account)
        self._null_seq = self._null_seq % MAX_SEQ + 1
        seq = self._null_seq

        def frame() -> bytes:
            return encode_null(
                seq=seq,
                receiver=s.receiver_no,
                prefix=s.prefix,
                account=account,
                at=self._now(),
                key=key,
                pad=_pad() if key is not None else None,
            )

        try:
            await self._deliver(frame, "link test", seq, account, key, 1)
        except Dc09DeliveryError:
            return False
        return True

    async def run_link_tests(self, stop: asyncio.Event) -> None:
        """A link test at once, then every `link_test_interval_s`, until `stop` is set."""
        while not stop.is_set():
            await self.link_test()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.link_test_interval_s)

    # -- inside -------------------------------------------------------------------------

    async def _deliver(
        self,
        frame: Callable[[], bytes],
        what: str,
        seq: int,
        account: str,
        key: bytes | None,
        attempts_per_receiver: int,
    ) -> Delivery:
        s = self._settings
        async with self._lock:
            attempts = 0
            problem = "no attempt"
            for receiver in s.receivers:
                for i in range(attempts_per_receiver):
                    if i:
                        await asyncio.sleep(s.backoff_s * 2 ** (i - 1))
                    attempts += 1
                    try:
                        # A fresh frame per attempt: a fresh timestamp after a NAK.
                        resp = await self._exchange(receiver, frame(), key)
                    except (OSError, TimeoutError, EOFError, Dc09FrameError) as exc:
                        problem = _describe(exc, s.ack_timeout_s)
                        log.warning(
                            "DC-09 %s to %s (attempt %d): %s", what, receiver, attempts, problem
                        )
                        continue
                    if resp.kind == "ACK" and _answers(resp, seq, account):
                        acked_at = self._clock()
                        self._update(True, receiver, None, acked_at)
                        if attempts > 1:
                            log.info("DC-09 %s acknowledged by %s", what, receiver)
                        return Delivery(receiver, acked_at, attempts)
                    if resp.kind == "DUH" and _answers(resp, seq, account):
                        problem = f"{receiver} will not take it (DUH)"
                        log.warning("DC-09 %s: %s", what, problem)
                        self._update(True, receiver, problem, None)
                        raise Dc09DeliveryError(f"{what}: {problem}", retryable=False)
                    if resp.kind == "NAK":
                        problem = f"NAK (receiver's time {_iso(resp.at)})"
                    else:
                        problem = f"{resp.kind} for message {resp.seq} of {resp.account}"
                    log.warning(
                        "DC-09 %s to %s (attempt %d): %s", what, receiver, attempts, problem
                    )
            self._update(False, None, problem, None)
            raise Dc09DeliveryError(
                f"{what}: no receiver acknowledged after {attempts} attempts ({problem})",
                retryable=True,
            )

    async def _exchange(self, receiver: Receiver, frame: bytes, key: bytes | None) -> Response:
        s = self._settings
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(receiver.host, receiver.port), timeout=s.connect_timeout_s
            )
        except TimeoutError as exc:
            raise TimeoutError(f"no connection within {s.connect_timeout_s:g} s") from exc
        try:
            raw = await asyncio.wait_for(_talk(reader, writer, frame), timeout=s.ack_timeout_s)
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()
        return parse_response(raw, key=key)

    def _update(
        self, reachable: bool, receiver: Receiver | None, error: str | None, acked_at: float | None
    ) -> None:
        previous, self._known = self._known, reachable
        self._state = LinkState(
            reachable=reachable,
            receiver=receiver,
            last_ack_at=acked_at if acked_at is not None else self._state.last_ack_at,
            last_error=error,
            checked_at=self._clock(),
        )
        if previous == reachable:
            return
        if reachable:
            log.info("DC-09 link to the alarm centre is up (%s)", receiver)
        else:
            log.warning("DC-09 link to the alarm centre is down: %s", error)
        for cb in list(self._listeners):
            try:
                cb(self._state)
            except Exception:  # a listener's bug must not stop alarm delivery
                log.exception("DC-09 link state listener failed")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)


async def _talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frame: bytes) -> bytes:
    """Write one frame, read the answer: up to its CR, or anything not framed (garbled)."""
    writer.write(frame)
    await writer.drain()
    buf = b""
    while True:
        chunk = await reader.read(1024)
        if not chunk:
            if buf:
                return buf  # a truncated answer: parse_response says what is wrong
            raise EOFError("the receiver closed the connection without answering")
        buf += chunk
        end = buf.find(b"\r")
        if end >= 0:
            return buf[: end + 1]
        if not buf.startswith(b"\n") or len(buf) > MAX_LENGTH + 10:
            return buf


def _answers(resp: Response, seq: int, account: str) -> bool:
    """An ACK or DUH belongs to our message if it names no other sequence number or account."""
    return resp.seq in (None, seq) and resp.account in (None, account)


def _describe(exc: BaseException, ack_timeout_s: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return str(exc) or f"no answer within {ack_timeout_s:g} s"
    if isinstance(exc, Dc09FrameError):
        return f"garbled answer: {exc}"
    if isinstance(exc, EOFError):
        return str(exc) or "the receiver closed the connection"
    return f"{type(exc).__name__}: {exc}"


def _iso(at: datetime | None) -> str:
    return "not given" if at is None else at.isoformat()


def _pad() -> str:
    """Random pad characters for an encrypted frame (DC-09 §5.5.1.7 asks for random ones)."""
    return "".join(secrets.choice(_PAD_ALPHABET) for _ in range(16))
