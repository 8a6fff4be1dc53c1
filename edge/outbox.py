"""The outbox: wire-contract messages go through the spool, and the publisher is woken."""

from __future__ import annotations

import asyncio
import logging

from edge.errors import SpoolError
from edge.spool import Spool
from sensors import contract

log = logging.getLogger(__name__)

Spooled = contract.ReadingsBatch | contract.Event | contract.AlarmMessage


class Outbox:
    """Encodes a message, writes it to the spool (durable), then wakes the publisher."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.wake = asyncio.Event()  # set on every put: the publisher has work
        self.drained = asyncio.Event()  # set by the publisher when the spool is empty
        if spool.depth == 0:
            self.drained.set()

    def put(self, msg: Spooled) -> int | None:
        topic, payload = contract.encode(msg)
        try:
            # Readings may be dropped when the spool is full; events and alarms never.
            seq = self.spool.append(
                topic, payload, droppable=isinstance(msg, contract.ReadingsBatch), created=msg.ts
            )
        except SpoolError:
            log.error("could not spool %s %s: it is lost", type(msg).__name__, msg.id)
            raise
        self.drained.clear()
        self.wake.set()
        return seq
