"""Live updates for the console over Server-Sent Events.

AlarmService listeners push changes into one queue per connected browser; the stream
then sends the re-rendered alarm lists. The lists are also re-sent on a timer when they
changed, which covers changes made by another hub process (listeners are per process)
and the presence board, which has no listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alerts.model import AlarmChange

log = logging.getLogger(__name__)

QUEUE_SIZE = 64


class LiveHub:
    """Fan-out of alarm changes to the open SSE streams of this process."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[AlarmChange | None]] = set()

    def subscribe(self) -> asyncio.Queue[AlarmChange | None]:
        q: asyncio.Queue[AlarmChange | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[AlarmChange | None]) -> None:
        self._queues.discard(q)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def on_change(self, change: AlarmChange) -> None:
        """AlarmService listener; runs on the event loop, must not block."""
        for q in list(self._queues):
            try:
                q.put_nowait(change)
            except asyncio.QueueFull:
                # A stalled browser: it gets the full lists on its next refresh anyway.
                log.debug("live queue full; change for alarm %s dropped", change.alarm.id)

    def close(self) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)  # tells the stream to end
