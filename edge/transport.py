"""MQTT transport: drains the spool to the broker in order, with PUBACKs, forever.

How a message leaves the spool: `aiomqtt.Client.publish(..., qos=1)` (aiomqtt 2.5.1)
registers an asyncio.Event under the paho message id and returns only when aiomqtt's
`on_publish` callback sets it; paho 2.2 calls `on_publish` for a QoS 1 message only from
`_handle_pubackcomp`, i.e. when the broker's PUBACK arrives (see aiomqtt/client.py
`publish` and paho/mqtt/client.py `_do_on_publish`). So "publish returned" means "the
broker has it"; only then is the row deleted. A publish not acknowledged within
`ack_timeout_s` raises MqttError and the session is torn down and re-established; the
rows are still in the spool and are sent again, in order (the hub de-duplicates by id).
`tests/integration/test_edge_transport.py` checks that a publish to a frozen broker does
not return.

Up to `inflight` messages are in flight at once (paho writes them to the socket in call
order, and the broker handles one connection's packets in order), then all their PUBACKs
are awaited before the next window: throughput without giving up replay order. Each
window is taken by priority (`Spool.ready`: alarms, then events, then readings batches,
each in seq order), and the readings in it are paced by a token bucket (`replay_per_s`)
so a long backlog stays inside the hub's per-dwelling budget.

End-to-end receipts: a PUBACK says only that the broker has an alarm, not that the hub
does. An alarm row therefore waits in the spool after its PUBACK until the hub publishes
`contract.receipt_command` naming its message id on `cmd/receipt` (`_on_receipt` deletes
it); without one it is published again after `receipt_timeout_s`, then at doubling
intervals up to `receipt_max_interval_s`, and at once on every new connection (the
subscription to `cmd/+` is made before anything is resent). Resends are the same bytes
with the same message id: the hub de-duplicates them and receipts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from edge.backoff import Backoff
from edge.config import EdgeSettings
from edge.errors import ConfigError, TransportError
from edge.mqtt_reset import reset_sockets
from edge.outbox import Outbox
from edge.pacing import TokenBucket
from edge.spool import Priority, ReceiptPolicy, SpoolItem
from edge.tls import client_context
from sensors import contract
from sensors.errors import ContractError

if TYPE_CHECKING:  # imported lazily at run time: `mz --help` must not need aiomqtt
    import aiomqtt

log = logging.getLogger(__name__)

StatusFactory = Callable[[bool], contract.Status]
CommandHandler = Callable[[contract.Command], None]
BadCommandHandler = Callable[[str], None]  # the contract's rejection reason

# An alarm unconfirmed this long after its first PUBACK is logged at WARNING (the hub is
# not receiving, or is too old to send receipts), and again every hour while it waits.
RECEIPT_WARN_AFTER_S: Final = 300.0
RECEIPT_WARN_EVERY_S: Final = 3600.0
_RECEIPT_WARN_CHECK_S: Final = 10.0  # how often the drain looks for such alarms


@dataclass(slots=True)
class TransportStats:
    connected: bool = False
    connects: int = 0
    failures: int = 0  # connection attempts failed or lost since the last good connection
    published: int = 0  # spooled messages acknowledged by the broker (first sends)
    status_published: int = 0
    last_error: str = ""
    receipts: int = 0  # hub receipts that confirmed (and deleted) a spooled alarm
    receipts_unknown: int = 0  # receipts for no spooled alarm (repeats, late): ignored
    resends: int = 0  # alarm publishes acknowledged again while awaiting a receipt
    awaiting: int = 0  # alarms acknowledged by the broker, awaiting the hub's receipt, now


class Publisher:
    """Owns the MQTT connection: last will, status heartbeat, spool drain, commands."""

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        status: StatusFactory,
        *,
        on_command: CommandHandler | None = None,
        on_bad_command: BadCommandHandler | None = None,
        host: str | None = None,
        port: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.status = status
        # Monotonic seconds for resend times, receipt warnings and replay pacing.
        self._clock = clock
        self._receipts = (
            ReceiptPolicy(settings.receipt_timeout_s, settings.receipt_max_interval_s)
            if settings.receipt_timeout_s > 0
            else None
        )
        self._pace = (
            TokenBucket(settings.replay_per_s, settings.replay_burst, clock())
            if settings.replay_per_s > 0
            else None
        )
        self._next_warn_check = 0.0
        self._connection_id: str | None = None
        self.on_command = on_command
        self.on_bad_command = on_bad_command
        # host/port overrides: the simulator routes the agent through its netem proxy.
        self.host = host or settings.host
        self.port = port or settings.port
        self.stats = TransportStats()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._client: aiomqtt.Client | None = None
        self.stats.awaiting = outbox.spool.awaiting

    @property
    def broker(self) -> str:
        return f"{self.host}:{self.port}"

    def _status(self, online: bool) -> contract.Status:
        return self.status(online).model_copy(update={"session": self._connection_id})

    def _make_client(self) -> aiomqtt.Client:
        import aiomqtt

        s = self.settings
        self._connection_id = contract.new_id()  # this connection's statuses and will share it
        will_topic, will_payload = contract.encode(self._status(False))
        # The CA it trusts and, in a bundle with one, the dwelling's client certificate.
        tls_context = client_context(s)
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=s.mqtt_username,
            password=s.password.get_secret_value(),
            identifier=s.mqtt_client_id,
            protocol=aiomqtt.ProtocolVersion.V5
            if s.mqtt_version == "5"
            else aiomqtt.ProtocolVersion.V311,
            # A fresh session each time: the spool, not the broker session, carries what we
            # owe the hub; commands are best-effort and re-sent by the hub.
            clean_session=True if s.mqtt_version == "3.1.1" else None,
            will=aiomqtt.Will(will_topic, will_payload, qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=s.connect_timeout_s,
            tls_context=tls_context,
            max_inflight_messages=s.inflight,
        )
        # aiomqtt warns past 10 pending calls; a window of `inflight` QoS 1 publishes is normal.
        client.pending_calls_threshold = 10 * s.inflight + 100
        return client

    async def run(self) -> None:
        """Connect, serve, reconnect with jittered backoff; until cancelled.

        The backoff is capped at `reconnect_max_s` (5 s by default): a network that comes
        back finds the edge reconnecting within seconds, inside the hub's offline timeout,
        so the dwelling's return clears its offline alarm instead of raising a new one."""
        import aiomqtt

        while True:
            try:
                await self._session()
            # ConfigError: a certificate or key file that stopped loading (replaced while
            # running, say). `mz edge run` checked them at start; until someone fixes
            # them the agent keeps detecting and spooling, and keeps trying.
            except* (aiomqtt.MqttError, TransportError, ConfigError, OSError) as eg:
                exc = eg.exceptions[0]
                self.stats.last_error = str(exc)
                self.stats.failures += 1
                log.warning("MQTT connection to %s lost or refused: %s", self.broker, exc)
            finally:
                self.stats.connected = False
            delay = self._backoff.next()
            log.info(
                "reconnecting to %s in %.1f s (spool depth %d)",
                self.broker,
                delay,
                self.outbox.spool.depth,
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        client = self._make_client()
        try:
            await self._serve(client)
        finally:
            # No descriptor of this session outlives it (edge.mqtt_reset says why).
            reset_sockets(client)

    async def _serve(self, client: aiomqtt.Client) -> None:
        async with client:
            self._client = client
            self.stats.connected = True
            self.stats.connects += 1
            log.info("connected to %s as %s", self.broker, self.settings.mqtt_username)
            try:
                await self._publish_status(client, online=True)
                # Success is the broker acknowledging our online status, not a bare CONNACK
                # (a broker that accepts and then drops us must not get retries at the
                # minimum delay): the next outage starts again from reconnect_min_s.
                self._backoff.reset()
                self.stats.failures = 0
                # Subscribed before anything is resent, so no receipt can be missed.
                await client.subscribe(
                    f"{contract.PREFIX}/{self.settings.dwelling}/cmd/+",
                    qos=1,
                    timeout=self.settings.ack_timeout_s,
                )
                # A new connection is exactly when the hub may have missed what it was
                # sent (a broker restart, a lost queue): resend every unconfirmed alarm.
                self._resend_awaiting("a new connection")
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._drain(client))
                    tg.create_task(self._heartbeat(client))
                    tg.create_task(self._commands(client))
            finally:
                self._client = None

    async def _publish_status(self, client: aiomqtt.Client, *, online: bool) -> None:
        topic, payload = contract.encode(self._status(online))
        await client.publish(
            topic, payload, qos=1, retain=True, timeout=self.settings.ack_timeout_s
        )
        self.stats.status_published += 1

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            await self._publish_status(client, online=True)

    async def _commands(self, client: aiomqtt.Client) -> None:
        # This iterator also raises MqttError the moment the connection drops, which
        # tears down the task group at once instead of waiting for an ack timeout.
        async for message in client.messages:
            try:
                _, msg = contract.decode(str(message.topic), message.payload)
            except ContractError as exc:
                log.warning("rejected command on %s: %s", message.topic, exc.reason)
                if self.on_bad_command is not None:
                    self.on_bad_command(exc.reason)
                continue
            if not isinstance(msg, contract.Command):
                continue
            if msg.name == contract.RECEIPT_COMMAND:
                self._on_receipt(msg)
            elif msg.name == contract.RESEND_COMMAND:
                self._resend_awaiting("the hub asked (it is back)")
            elif self.on_command is not None:
                self.on_command(msg)

    def _resend_awaiting(self, why: str) -> None:
        """Make every alarm awaiting the hub's receipt due now, and wake the drain."""
        resend = self.outbox.spool.resend_all(self._clock())
        if resend:
            log.info("%s: %d alarms awaiting the hub's receipt sent again now", why, resend)
            self.outbox.wake.set()

    def _on_receipt(self, cmd: contract.Command) -> None:
        """The hub has durably processed an alarm: forget it (receipts are idempotent)."""
        message_id = cmd.args.get("message")
        if not isinstance(message_id, str):
            log.warning("receipt %s without a message id ignored", cmd.id)
            return
        if self.outbox.spool.receipt(message_id):
            self.stats.receipts += 1
            log.debug("receipt for alarm message %s: deleted from the spool", message_id)
        else:
            self.stats.receipts_unknown += 1
            log.debug("receipt for message %s, not (or no longer) spooled: ignored", message_id)
        self._settled()

    def _settled(self) -> None:
        """Update the gauges after the spool changed; wake `flush` once all is sent."""
        spool = self.outbox.spool
        self.stats.awaiting = spool.awaiting
        if spool.unsent == 0:
            self.outbox.drained.set()

    async def _drain(self, client: aiomqtt.Client) -> None:
        wake = self.outbox.wake
        while True:
            wake.clear()  # before looking: a put from here on ends the wait below
            now = self._clock()
            self._warn_unconfirmed(now)
            window = self._next_window(now)
            if window:
                await self._publish_window(client, window)
                continue
            self._settled()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._idle_s(now))

    def _next_window(self, now: float) -> list[SpoolItem]:
        """The next messages to publish: by priority, readings only as the pace allows."""
        items = self.outbox.spool.ready(self.settings.inflight, now)
        if self._pace is None:
            return items
        readings = [it for it in items if it.priority is Priority.READINGS]
        if not readings:
            return items
        granted = self._pace.take(len(readings), now)
        # ready() puts readings last, so this keeps the window's order.
        return [it for it in items if it.priority is not Priority.READINGS] + readings[:granted]

    def _idle_s(self, now: float) -> float | None:
        """How long the drain may wait for a put before it has something to do itself."""
        spool = self.outbox.spool
        waits: list[float] = []
        if (at := spool.next_resend_at()) is not None:
            waits.append(at - now)
        if spool.awaiting and self._receipts is not None:
            waits.append(self._next_warn_check - now)
        if spool.unsent and self._pace is not None:  # readings held back by the pace
            waits.append(self._pace.wait_s(now))
        return max(0.0, min(waits)) if waits else None

    def _warn_unconfirmed(self, now: float) -> None:
        if self._receipts is None or not self.outbox.spool.awaiting:
            return
        if now < self._next_warn_check:
            return
        self._next_warn_check = now + _RECEIPT_WARN_CHECK_S
        for late in self.outbox.spool.overdue(
            now, after_s=RECEIPT_WARN_AFTER_S, every_s=RECEIPT_WARN_EVERY_S
        ):
            log.warning(
                "alarm message %s has waited %.0f s for the hub's receipt (sent %d times):"
                " it stays in the spool and is sent again",
                late.receipt_id,
                late.waited_s,
                late.sends,
            )

    async def _publish_window(self, client: aiomqtt.Client, items: list[SpoolItem]) -> None:
        timeout = self.settings.ack_timeout_s
        results = await asyncio.gather(
            *(
                client.publish(it.topic, it.payload, qos=1, retain=it.retain, timeout=timeout)
                for it in items
            ),
            return_exceptions=True,
        )
        acked = [it for it, r in zip(items, results, strict=True) if r is None]
        self.outbox.spool.acknowledged(acked, self._clock(), self._receipts)
        resent = [it for it in acked if it.sends > 0]
        for it in resent:
            log.info(
                "alarm message %s sent again (send %d): no receipt from the hub yet",
                it.receipt_id,
                it.sends + 1,
            )
        self.stats.resends += len(resent)
        self.stats.published += len(acked) - len(resent)
        self._settled()
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, asyncio.CancelledError):
                    raise r
                raise TransportError(self.broker, f"publish not acknowledged: {r}") from r

    async def flush(self, deadline_s: float) -> bool:
        """At shutdown: wait up to `deadline_s` for the broker to acknowledge everything
        spooled; True if it did. Alarms awaiting the hub's receipt stay in the spool (they
        are resent after the next start) and do not hold the shutdown up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.drained.wait(), deadline_s)
        return self.outbox.spool.unsent == 0

    async def say_goodbye(self) -> None:
        """Publish online=False ourselves on a clean stop (a clean DISCONNECT skips the will)."""
        client = self._client
        if client is None or not self.stats.connected:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._publish_status(client, online=False), 2.0)
