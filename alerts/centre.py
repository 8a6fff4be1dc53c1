"""The alarm centre lane: DC-09 events from the durable outbox to the alarmmeldpunt.

An alarm handed to the alarm centre gets one outbox row on channel "dc09" (contact
"centre", the round its escalation step's index; a technical alarm's trouble event round
`TROUBLE_ROUND`); when it is over, one more with round `RESTORE_ROUND` (the Contact ID
restore, qualifier 3). The rows live in the same outbox as
mail, with the same guarantees (docs/alerts.md, "Durability"): claimed exclusively, a row
left 'sending' by a dead process is marked 'unknown' and never resent, so an event is never
sent twice; and a row is retried, with backoff and without end, while no receiver answers,
so nothing is lost while the centre is down.

The lane runs beside the mail lane (its own loop in `AlarmService.run`): a slow mail server
never holds up the alarm centre.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from alerts import lifecycle
from alerts.dc09.codec import SiaEvent
from alerts.dc09.codes import event_code
from alerts.dc09.errors import Dc09DeliveryError
from alerts.dc09.link import Delivery, LinkState
from alerts.model import AlarmRecord
from alerts.store import AlarmStore, OutboxRow, OutboxStatus
from alerts.ticking import tick_until

log = logging.getLogger(__name__)

CHANNEL = "dc09"
CENTRE = "centre"  # the outbox's contact_id for the alarm centre
RESTORE_ROUND = -1
# A technical alarm's trouble event (no escalation step: the round of no plan step).
TROUBLE_ROUND = -2
NEW_EVENT, RESTORE = 1, 3  # Contact ID qualifiers

# Retry backoff for an event no receiver took: 2, 4, 8 ... capped here. Never given up.
_RETRY_MIN_S = 2.0
_RETRY_MAX_S = 30.0


class Link(Protocol):
    """What the lane needs from `alerts.dc09.link.Dc09Link`."""

    async def send(self, event: SiaEvent, *, seq: int) -> Delivery: ...
    def state(self) -> LinkState: ...
    def add_listener(self, cb: Callable[[LinkState], None]) -> None: ...
    async def run_link_tests(self, stop: asyncio.Event) -> None: ...


class CentreIdentity(Protocol):
    """The registry's DC-09 identity of a dwelling: its account and its sensors' zones."""

    def alarm_centre_account(self, dwelling_id: str) -> str | None: ...
    def zone(self, dwelling_id: str, sensor_id: str) -> int: ...


def sequence_number(row_id: int) -> int:
    """The DC-09 sequence number (0001..9999) of an outbox row: a retried event keeps it,
    so a receiver that saw the first try recognises the second."""
    return (row_id - 1) % 9999 + 1


def event_for(alarm: AlarmRecord, account: str, zone: int, *, restore: bool) -> SiaEvent:
    return SiaEvent(
        account=account,
        code=event_code(alarm.kind, alarm.severity, alarm.detail),
        qualifier=RESTORE if restore else NEW_EVENT,
        zone=zone,
    )


class CentreLane:
    """Sends the outbox's DC-09 rows through `link`; see the module docstring."""

    def __init__(
        self,
        store: AlarmStore,
        link: Link,
        identity: CentreIdentity,
        clock: Callable[[], float],
        worker: str,
        emit: Callable[[AlarmRecord, str], None],
        io: Callable[..., Any],
    ) -> None:
        self._store = store
        self._link = link
        self._identity = identity
        self._clock = clock
        self._worker = worker
        self._emit = emit
        self._io = io
        self.wake = asyncio.Event()

    @property
    def link(self) -> Link:
        return self._link

    def account(self, dwelling: str) -> str | None:
        return self._identity.alarm_centre_account(dwelling)

    async def queue_event(self, alarm: AlarmRecord, step: int, now: float) -> bool:
        """Queue the alarm's new event (once per alarm and step; False if already there)."""
        queued: bool = await self._io(self._store.enqueue, alarm.id, CENTRE, CHANNEL, step, now)
        if queued:
            self.wake.set()
        return queued

    async def queue_restores(self, now: float) -> None:
        """A restore for every alarm over whose new event went (or is going) out."""
        for alarm_id in await self._io(self._store.centre_restores_due, CHANNEL, RESTORE_ROUND):
            if await self._io(self._store.enqueue, alarm_id, CENTRE, CHANNEL, RESTORE_ROUND, now):
                log.info("alarm %s is over: restore queued for the alarm centre", alarm_id)
                self.wake.set()

    async def run(self, stop: asyncio.Event, poll_s: float) -> None:
        await tick_until(stop, self.wake, self.tick, poll_s, what="alarm centre lane", log=log)

    async def tick(self) -> None:
        while True:
            row: OutboxRow | None = await self._io(
                self._store.claim_channel, CHANNEL, self._worker, self._clock(), RESTORE_ROUND
            )
            if row is None:
                return
            await self._send(row)

    async def _fail(self, row: OutboxRow, error: str, note: str) -> None:
        """The row will never go out: failed, and on its alarm's timeline."""
        now = self._clock()
        await self._io(self._store.finish_all, [row.id], OutboxStatus.FAILED, now, error)
        await self._io(self._store.log_event, row.alarm_id, now, "centre_failed", CENTRE, note)

    async def _send(self, row: OutboxRow) -> None:
        alarm = await self._io(self._store.get, row.alarm_id)
        account = self.account(row.dwelling or "") if alarm is not None else None
        if alarm is None or account is None:
            why = (
                "unknown alarm" if alarm is None else f"no alarm-centre account for {row.dwelling}"
            )
            log.error("DC-09 event for alarm %s not sent: %s", row.alarm_id, why)
            await self._fail(row, why, why)
            return
        restore = row.round == RESTORE_ROUND
        zone = self._identity.zone(alarm.dwelling, alarm.sensor) if alarm.sensor else 0
        event = event_for(alarm, account, zone, restore=restore)
        what = "restore" if restore else "event"
        try:
            delivery = await self._link.send(event, seq=sequence_number(row.id))
        except Dc09DeliveryError as exc:
            if not exc.retryable:
                log.error("alarm centre refused the %s of alarm %s: %s", what, alarm.id, exc)
                await self._fail(row, str(exc), f"{what}: {exc}")
                return
            delay = min(_RETRY_MAX_S, _RETRY_MIN_S * 2 ** max(0, row.attempts - 1))
            log.warning(
                "DC-09 %s of alarm %s not taken (attempt %d), retry in %.0f s: %s",
                what,
                alarm.id,
                row.attempts,
                delay,
                exc,
            )
            await self._io(self._store.retry_later, row.id, self._clock() + delay, str(exc))
            if row.attempts == 1:
                await self._io(
                    self._store.log_event,
                    alarm.id,
                    self._clock(),
                    "centre_retrying",
                    CENTRE,
                    f"{what}: {exc}",
                )
            return
        except asyncio.CancelledError:
            self._store.finish_all(
                [row.id], OutboxStatus.UNKNOWN, self._clock(), "stopped mid-send"
            )
            raise
        acked = delivery.acked_at
        receiver = f"{delivery.receiver.host}:{delivery.receiver.port}"
        log.info(
            "alarm %s: DC-09 %s (code %03d, account %s) acknowledged by %s",
            alarm.id,
            what,
            event.code,
            account,
            receiver,
        )
        if restore:
            await self._io(self._store.finish_all, [row.id], OutboxStatus.SENT, acked)
            await self._io(
                self._store.log_event, alarm.id, acked, "centre_restored", CENTRE, receiver
            )
            return
        # The row SENT and the alarm acknowledged by the centre in one transaction.
        steps = await self._io(
            self._store.update_many,
            [alarm.id],
            lambda r: lifecycle.centre_acknowledged(r, acked),
            at=acked,
            by=CENTRE,
            note=f"DC-09 {event.code:03d} ACK {receiver}",
            sent=[row.id],
        )
        for step in steps:
            if step.changed:
                self._emit(step.record, step.what)


def link_state_view(state: LinkState) -> Mapping[str, Any]:
    """The link state as JSON-ready values (the stats API and the console)."""
    from dataclasses import asdict

    return asdict(state)
