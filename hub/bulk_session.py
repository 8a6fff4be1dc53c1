"""The readings session on paho's own network thread, for throughput.

The hub's other sessions (alarms, control) go through aiomqtt, which costs a future and
a few event-loop turns per message: nothing next to an alarm's work, but about twice what
reading the socket itself costs, and reading batches come by the ten thousand. Here paho
(public API only: `manual_ack`, `ack`, `loop_start`) reads on its thread into a deque and
wakes the event loop once per burst; ingest takes what has arrived, in one batch, and
acknowledges each message after the batch is durable. Keep-alives are answered by that
thread even while a large batch is being written.

One `BulkSession` is one connection: paho's automatic reconnect is off, so a message is
only ever acknowledged on the connection it came in on (a message id is per connection;
acknowledging an old one on a new connection would acknowledge a different message).
When the connection drops, `batch` raises `aiomqtt.MqttError`, as the other sessions do,
and the caller opens a new session; what was received and not acknowledged is delivered
again by the broker (the persistent session) and de-duplicated by ingest.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Coroutine
from typing import Any, Final, NamedTuple

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.config import BrokerSettings
from sensors.contract import Readings

HANDSHAKE_TIMEOUT_S: Final = 10.0  # CONNACK, SUBACK, UNSUBACK
NOT_UTF8: Final = "\ufffd"  # stands in for a topic that is not UTF-8: not an mz/v1 topic


class Received(NamedTuple):
    """One message as paho read it, tied to the session it must be acknowledged on. A
    tuple: made by the ten thousand a second (`Received._make` from the pipe's tuples)."""

    topic: str
    payload: bytes
    retained: bool
    mid: int
    qos: int
    # A reading batch decoded ahead (`contract.canonical_readings`, hub.readings_receiver)
    lean: Readings | None = None


class BulkSession:
    def __init__(
        self,
        broker: BrokerSettings,
        client_id: str,
        tls: ssl.SSLContext | None,
    ) -> None:
        self._broker = broker
        self._loop = asyncio.get_running_loop()
        self._inbox: collections.deque[Received] = collections.deque()
        self._arrived = asyncio.Event()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self._waiting: dict[int, asyncio.Future[None]] = {}  # SUBACK/UNSUBACK by mid
        self._connack: asyncio.Future[None] = self._loop.create_future()
        v5 = broker.protocol == "5"
        self._v5 = v5
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            # Persistent session: the broker queues QoS 1 messages while the hub is away.
            clean_session=None if v5 else False,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        if broker.username is not None:
            password = None if broker.password is None else broker.password.get_secret_value()
            client.username_pw_set(broker.username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_ack
        client.on_unsubscribe = self._on_ack
        self._client = client

    # -- on paho's thread: hand everything to the event loop ---------------------------

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self._connected, reason.is_failure, str(reason))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self._lost, f"disconnected: {reason}")

    def _on_message(self, _c: Any, _u: Any, m: paho.MQTTMessage) -> None:
        try:
            topic = m.topic
        except UnicodeDecodeError:  # the broker should refuse it; ingest refuses it anyway
            topic = NOT_UTF8
        payload = m.payload if isinstance(m.payload, bytes) else bytes(m.payload)
        self._inbox.append(Received(topic, payload, bool(m.retain), m.mid, m.qos))
        if len(self._inbox) == 1:  # the first of a burst wakes the loop; the rest ride along
            self._loop.call_soon_threadsafe(self._arrived.set)

    def _on_ack(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        failed = [str(c) for c in (codes or []) if getattr(c, "is_failure", False)]
        self._loop.call_soon_threadsafe(self._acked, mid, failed)

    # -- on the event loop -------------------------------------------------------------

    def _connected(self, failed: bool, reason: str) -> None:
        if self._connack.done():
            return
        if failed:
            self._connack.set_exception(aiomqtt.MqttError(f"connection refused: {reason}"))
        else:
            self._connack.set_result(None)

    def _lost(self, why: str) -> None:
        if not self._closed.done():
            self._closed.set_result(why)
        self._arrived.set()
        for fut in (self._connack, *self._waiting.values()):
            if not fut.done():
                fut.set_exception(aiomqtt.MqttError(why))

    def _acked(self, mid: int, failed: list[str]) -> None:
        fut = self._waiting.pop(mid, None)
        if fut is None or fut.done():
            return
        if failed:
            fut.set_exception(aiomqtt.MqttError(f"subscription refused: {', '.join(failed)}"))
        else:
            fut.set_result(None)

    async def __aenter__(self) -> BulkSession:
        b = self._broker
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = b.session_expiry_s
        try:
            rc = await asyncio.to_thread(
                self._client.connect,
                b.host,
                b.port,
                b.keepalive_s,
                clean_start=False if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
                properties=properties,
            )
        except (OSError, ssl.SSLError) as exc:
            raise aiomqtt.MqttError(f"cannot connect to {b.host}:{b.port}: {exc}") from exc
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttError(f"cannot connect to {b.host}:{b.port}: {rc}")
        self._client.loop_start()
        try:
            await asyncio.wait_for(self._connack, HANDSHAKE_TIMEOUT_S)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._lost("closed")

    async def subscribe(self, topics: list[str]) -> None:
        if topics:
            await self._handshake(*self._client.subscribe([(t, 1) for t in topics]))

    async def unsubscribe(self, topics: list[str]) -> None:
        if topics:
            await self._handshake(*self._client.unsubscribe(topics))

    async def _handshake(self, rc: MQTTErrorCode, mid: int | None) -> None:
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise aiomqtt.MqttError(f"subscribe/unsubscribe not sent: {rc}")
        fut = self._loop.create_future()
        self._waiting[mid] = fut
        # The ack may have come before the future was filed: paho calls back on its
        # thread, but `_acked` runs on this loop, after this coroutine yields.
        await asyncio.wait_for(fut, HANDSHAKE_TIMEOUT_S)

    async def batch(self, limit: int, stop: asyncio.Event) -> list[Received]:
        """Up to `limit` messages, as soon as there is at least one; [] once `stop` is
        set. Raises aiomqtt.MqttError when the connection is gone (what was received
        and not yet acknowledged comes again on the next session)."""
        return await take(self._inbox, self._arrived, self._closed, limit, stop)

    def take_now(self, limit: int) -> list[Received]:
        """Up to `limit` of the messages already here, without waiting."""
        return [self._inbox.popleft() for _ in range(min(limit, len(self._inbox)))]

    @property
    def waiting(self) -> int:
        """Messages here, not yet taken."""
        return len(self._inbox)

    def ack(self, message: Received) -> None:
        """Acknowledge `message` (a no-op for QoS 0)."""
        self.ack_id(message.mid, message.qos)

    def ack_id(self, mid: int, qos: int) -> None:
        """Acknowledge the message `mid` of this connection (hub.readings_receiver)."""
        self._client.ack(mid, qos)


async def take(
    inbox: collections.deque[Received],
    arrived: asyncio.Event,
    closed: asyncio.Future[str],
    limit: int,
    stop: asyncio.Event,
) -> list[Received]:
    """`batch` of a session that fills `inbox` and sets `arrived` (from paho's thread here,
    from a pipe in hub.readings_receiver) and resolves `closed` with why it ended."""
    if inbox:
        # Messages are waiting: without this the caller's loop would go from batch to
        # batch of a backlog without once letting the event loop run, and the alarm
        # session beside it (hub.ingest) would wait for the whole backlog.
        await asyncio.sleep(0)
    while not inbox:
        if closed.done():
            raise aiomqtt.MqttError(closed.result())
        if stop.is_set():
            return []
        arrived.clear()
        if not inbox:
            await first_of(arrived.wait(), stop.wait())
    if closed.done():
        raise aiomqtt.MqttError(closed.result())
    return [inbox.popleft() for _ in range(min(limit, len(inbox)))]


async def first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
