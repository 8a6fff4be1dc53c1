"""The outbox: wire-contract messages go through the spool, and the publisher is woken."""

from __future__ import annotations

import asyncio
import logging

from edge.errors import SpoolError
from edge.spool import Priority, Spool
from sensors import contract

log = logging.getLogger(__name__)

Spooled = contract.ReadingsBatch | contract.Event | contract.AlarmMessage


def priority_of(msg: Spooled) -> Priority:
    """Alarms drain first, then events, then readings (docs/edge.md "Alarms first")."""
    if isinstance(msg, contract.AlarmMessage):
        return Priority.ALARM
    if isinstance(msg, contract.ReadingsBatch):
        return Priority.READINGS
    return Priority.EVENT


class Outbox:
    """Encodes a message, writes it to the spool (durable), then wakes the publisher."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.wake = asyncio.Event()  # set on every put: the publisher has work
        # Set by the publisher when the broker has acknowledged everything spooled (alarms
        # awaiting the hub's receipt do not count: they were sent).
        self.drained = asyncio.Event()
        if spool.unsent == 0:
            self.drained.set()
        # Added to the detail of every alarm raise (edge.fallback: when the edge would
        # text the mantelzorgers itself); a key the raise already has wins.
        self.raise_detail: dict[str, float | int | bool | str | None] = {}

    def put(self, msg: Spooled) -> int | None:
        if self.raise_detail and isinstance(msg, contract.AlarmMessage) and msg.action == "raise":
            detail = {**self.raise_detail, **msg.detail}
            if len(detail) <= contract.MAX_DETAIL_KEYS:  # a full detail goes as it is
                msg = msg.model_copy(update={"detail": detail})
        topic, payload = contract.encode(msg)
        try:
            # Readings may be dropped when the spool is full; events and alarms never. An
            # alarm keeps its message id: the hub's receipt names it (end-to-end receipts).
            seq = self.spool.append(
                topic,
                payload,
                droppable=isinstance(msg, contract.ReadingsBatch),
                created=msg.ts,
                priority=priority_of(msg),
                receipt_id=msg.id if isinstance(msg, contract.AlarmMessage) else None,
            )
        except SpoolError:
            log.error("could not spool %s %s: it is lost", type(msg).__name__, msg.id)
            raise
        self.drained.clear()
        self.wake.set()
        return seq
