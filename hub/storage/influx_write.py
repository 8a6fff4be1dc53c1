"""Batched, ordered writes to InfluxDB with retries, a disk buffer and backfill.

One task (the pump) does every write, so order is kept without locks: callers hand their
lines over and wait; the pump sends what has gathered in batches of up to `batch_lines`
(several callers' readings in one HTTP request), retrying `attempts` times with
exponential backoff. If InfluxDB still cannot be reached, the lines go to the disk buffer
(hub.storage.influx_buffer) and the callers return: their readings are durable either way.
While anything is buffered, new lines are buffered behind it and the pump drains the
buffer oldest first (backoff doubling up to `backoff_max_s` between tries), so InfluxDB
receives everything in the order it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from hub.errors import StorageError
from hub.storage.influx_buffer import DiskBuffer
from hub.storage.influx_http import LineSink, Rejected, Unreachable
from hub.storage.influx_lines import body

log = logging.getLogger(__name__)


class WriteRejected(StorageError):
    """InfluxDB refused these readings (HTTP 400/413): sending them again cannot help."""

    retryable = False


@dataclass(frozen=True, slots=True)
class WritePolicy:
    batch_lines: int = 5000  # per HTTP request (ENVIRONMENT.md: 5,000-line writes are fast)
    attempts: int = 3  # direct tries of a batch before it goes to the disk buffer
    backoff_s: float = 0.2  # first wait between tries; doubles
    backoff_max_s: float = 30.0  # longest wait between backfill tries


@dataclass(slots=True)
class WriteCounters:
    written: int = 0  # readings InfluxDB took (directly or from the buffer)
    buffered_total: int = 0  # readings that went through the disk buffer
    expired: int = 0  # dropped by the server as older than its retention
    rejected: int = 0  # refused by the server (400)
    retries: int = 0  # direct tries that failed and were tried again


_Entry = tuple[Sequence[str], "asyncio.Future[None]"]


class BufferedWriter:
    def __init__(
        self,
        sink: LineSink,
        buffer: DiskBuffer,
        policy: WritePolicy | None = None,
        *,
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sink = sink
        self._buffer = buffer
        self._policy = policy or WritePolicy()
        self._prepare = prepare  # before the first send (retention setup); raises Unreachable
        self._prepared = prepare is None
        self._pending: list[_Entry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.counters = WriteCounters()

    # -- callers -------------------------------------------------------------------------

    async def write(self, lines: Sequence[str]) -> None:
        """Return once `lines` are in InfluxDB or in the disk buffer."""
        if not lines:
            return
        if self._closing:
            raise StorageError("the InfluxDB writer is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((lines, future))
        self.start()
        self._wake.set()
        await future

    def start(self) -> None:
        """Start the pump (also drains a buffer left by an earlier run)."""
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name="influx-writer")

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    def stats(self) -> dict[str, int]:
        c = self.counters
        return {
            "written": c.written,
            "buffered": len(self._buffer),
            "buffered_total": c.buffered_total,
            "dropped": self._buffer.dropped,
            "expired": c.expired,
            "rejected": c.rejected,
            "retries": c.retries,
        }

    async def close(self) -> None:
        """Hand the pending lines over (to InfluxDB or the buffer) and stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        self._spill()  # a pump that never started

    # -- the pump ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._policy.backoff_s
        while True:
            if self._buffer and not self._closing:
                if await self._backfill_one():
                    delay = self._policy.backoff_s
                    continue
                self._spill()
                await self._pause(delay)
                delay = min(delay * 2, self._policy.backoff_max_s)
                continue
            if self._pending:
                if self._buffer:  # closing with a backlog: keep the order
                    self._spill()
                else:
                    await self._deliver(self._take())
                continue
            if self._closing:
                return
            self._wake.clear()
            await self._wake.wait()

    def _take(self) -> list[_Entry]:
        taken: list[_Entry] = []
        n = 0
        limit = self._policy.batch_lines
        while self._pending and (not taken or n + len(self._pending[0][0]) <= limit):
            entry = self._pending.pop(0)
            taken.append(entry)
            n += len(entry[0])
        return taken

    async def _deliver(self, entries: list[_Entry]) -> None:
        lines = [line for chunk, _ in entries for line in chunk]
        error: BaseException | None = None
        step = self._policy.batch_lines
        for i in range(0, len(lines), step):
            try:
                await self._send(lines[i : i + step], attempts=self._policy.attempts)
            except Unreachable as exc:
                rest = lines[i:]
                log.warning("InfluxDB unreachable (%s); buffering %d readings", exc, len(rest))
                try:
                    self._to_buffer(rest)
                except StorageError as buffer_error:
                    error = buffer_error
                break
            except Rejected as exc:
                log.error("InfluxDB refused %d readings: %s", len(lines[i : i + step]), exc)
                self.counters.rejected += len(lines[i : i + step])
                error = WriteRejected(f"InfluxDB refused the readings: {exc}")
        for _, future in entries:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    async def _send(self, lines: Sequence[str], *, attempts: int) -> None:
        for attempt in range(max(1, attempts)):
            try:
                if not self._prepared and self._prepare is not None:
                    await self._prepare()
                    self._prepared = True
                expired = await self._sink.write(body(lines))
            except Unreachable as exc:
                if "HTTP 404" in str(exc):
                    self._prepared = self._prepare is None  # the database may be gone
                if attempt + 1 >= attempts or self._closing:
                    raise
                self.counters.retries += 1
                await asyncio.sleep(
                    min(self._policy.backoff_s * 2**attempt, self._policy.backoff_max_s)
                )
                continue
            if expired:
                log.warning("InfluxDB dropped %d readings older than its retention", expired)
            self.counters.expired += expired
            self.counters.written += len(lines) - expired
            return

    async def _backfill_one(self) -> bool:
        last_id, lines = self._buffer.oldest(self._policy.batch_lines)
        try:
            await self._send(lines, attempts=1)
        except Unreachable as exc:
            log.info("InfluxDB unreachable (%s); %d readings buffered", exc, len(self._buffer))
            return False
        except Rejected as exc:
            # Kept, they would block everything behind them for good.
            log.error("InfluxDB refused %d buffered readings; dropping them: %s", len(lines), exc)
            self.counters.rejected += len(lines)
        self._buffer.remove_through(last_id)
        if not self._buffer:
            log.info("InfluxDB back: the disk buffer is drained")
        return True

    def _to_buffer(self, lines: Sequence[str]) -> None:
        self._buffer.append(lines)
        self.counters.buffered_total += len(lines)

    def _spill(self) -> None:
        """Every waiting caller's lines into the buffer, in order; the callers return."""
        while self._pending:
            lines, future = self._pending.pop(0)
            try:
                self._to_buffer(lines)
            except StorageError as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(None)

    async def _pause(self, delay: float) -> None:
        """Wait `delay` s before the next backfill try; callers arriving meanwhile are
        buffered at once rather than made to wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not self._closing and (left := deadline - loop.time()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)
            self._spill()
