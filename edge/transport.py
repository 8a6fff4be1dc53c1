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
are awaited before the next window: throughput without giving up replay order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.backoff import Backoff
from edge.config import EdgeSettings
from edge.errors import TransportError
from edge.outbox import Outbox
from edge.spool import SpoolItem
from sensors import contract
from sensors.errors import ContractError

if TYPE_CHECKING:  # imported lazily at run time: `mz --help` must not need aiomqtt
    import aiomqtt

log = logging.getLogger(__name__)

StatusFactory = Callable[[bool], contract.Status]
CommandHandler = Callable[[contract.Command], None]


@dataclass(slots=True)
class TransportStats:
    connected: bool = False
    connects: int = 0
    published: int = 0  # spooled messages acknowledged by the broker
    status_published: int = 0
    last_error: str = ""


class Publisher:
    """Owns the MQTT connection: last will, status heartbeat, spool drain, commands."""

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        status: StatusFactory,
        *,
        on_command: CommandHandler | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.status = status
        self._connection_id: str | None = None
        self.on_command = on_command
        # host/port overrides: the simulator routes the agent through its netem proxy.
        self.host = host or settings.host
        self.port = port or settings.port
        self.stats = TransportStats()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._client: aiomqtt.Client | None = None

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
        tls_context: ssl.SSLContext | None = None
        if s.tls:
            tls_context = ssl.create_default_context(
                cafile=str(s.ca_file) if s.ca_file is not None else None
            )
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
        """Connect, serve, reconnect with jittered backoff; until cancelled."""
        import aiomqtt

        while True:
            try:
                await self._session()
            except* (aiomqtt.MqttError, TransportError, OSError) as eg:
                exc = eg.exceptions[0]
                self.stats.last_error = str(exc)
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
            # aiomqtt 2.5 leaves paho's socket open (and registered with the loop) when
            # CONNACK times out; a stale CONNECT that reaches the broker later would take
            # over our next session. Close it and paho's wake-up socketpair (both no-ops
            # when already closed), so no descriptor outlives the session.
            client._client._reset_sockets()

    async def _serve(self, client: aiomqtt.Client) -> None:
        async with client:
            self._client = client
            self.stats.connected = True
            self.stats.connects += 1
            self._backoff.reset()
            log.info("connected to %s as %s", self.broker, self.settings.mqtt_username)
            try:
                await self._publish_status(client, online=True)
                await client.subscribe(
                    f"{contract.PREFIX}/{self.settings.dwelling}/cmd/+",
                    qos=1,
                    timeout=self.settings.ack_timeout_s,
                )
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
                continue
            if isinstance(msg, contract.Command) and self.on_command is not None:
                self.on_command(msg)

    async def _drain(self, client: aiomqtt.Client) -> None:
        spool = self.outbox.spool
        wake = self.outbox.wake
        while True:
            items = spool.peek(self.settings.inflight)
            if not items:
                wake.clear()
                if spool.depth == 0:  # re-check after clear: no lost wake-up
                    await wake.wait()
                continue
            await self._publish_window(client, items)

    async def _publish_window(self, client: aiomqtt.Client, items: list[SpoolItem]) -> None:
        timeout = self.settings.ack_timeout_s
        results = await asyncio.gather(
            *(
                client.publish(it.topic, it.payload, qos=1, retain=it.retain, timeout=timeout)
                for it in items
            ),
            return_exceptions=True,
        )
        acked = [it.seq for it, r in zip(items, results, strict=True) if r is None]
        self.outbox.spool.delete(acked)
        self.stats.published += len(acked)
        if self.outbox.spool.depth == 0:
            self.outbox.drained.set()
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, asyncio.CancelledError):
                    raise r
                raise TransportError(self.broker, f"publish not acknowledged: {r}") from r

    async def flush(self, deadline_s: float) -> bool:
        """At shutdown: wait up to `deadline_s` for the spool to drain; True if it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.drained.wait(), deadline_s)
        return self.outbox.spool.depth == 0

    async def say_goodbye(self) -> None:
        """Publish online=False ourselves on a clean stop (a clean DISCONNECT skips the will)."""
        client = self._client
        if client is None or not self.stats.connected:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._publish_status(client, online=False), 2.0)
