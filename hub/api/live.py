"""Live updates for the console over Server-Sent Events.

AlarmService listeners push this process's changes into one queue per connected browser;
hub.watch's Watcher pushes what other hub processes and `mz admin` committed to the
shared stores (a `StoreChange`, within WATCH_INTERVAL_S). The stream then sends the
re-rendered alarm lists and board. They are also re-sent on a timer when they changed,
which covers the presence board (no listener) and a console without a watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alerts.model import AlarmChange
from hub.watch import StoreChange

log = logging.getLogger(__name__)

QUEUE_SIZE = 64

# What wakes a stream: an alarm change in this process, or a change seen in a store.
LiveChange = AlarmChange | StoreChange


class LiveHub:
    """Fan-out of changes to the open SSE streams of this process."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[LiveChange | None]] = set()

    def subscribe(self) -> asyncio.Queue[LiveChange | None]:
        q: asyncio.Queue[LiveChange | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[LiveChange | None]) -> None:
        self._queues.discard(q)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def on_change(self, change: AlarmChange) -> None:
        """AlarmService listener; runs on the event loop, must not block."""
        self._put(change)

    def on_store_change(self, change: StoreChange) -> None:
        """hub.watch.Watcher callback (on the event loop): one item per look, however
        many rows another process changed."""
        self._put(change)

    def _put(self, change: LiveChange) -> None:
        for q in list(self._queues):
            try:
                q.put_nowait(change)
            except asyncio.QueueFull:
                # A stalled browser: it gets the full lists on its next refresh anyway.
                log.debug("live queue full; %r dropped", change)

    def close(self) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)  # tells the stream to end
