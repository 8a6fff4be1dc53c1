"""MQTT ingest: every dwelling's readings, events, alarms and status into the hub.

Delivery guarantee, end to end: the hub keeps a persistent MQTT session (a stable
client id, clean_session=False / MQTT 5 clean_start=False with a session expiry), so
QoS 1 messages published while it is down wait at the broker; and it acknowledges a
message (PUBACK) only after processing it durably. aiomqtt 2.x acknowledges on
receipt, so ingest switches its paho client to manual acks. A hub killed mid-message
therefore gets that message again on reconnect; `hub.dedup` and idempotent stores make
the repeat harmless.

Per message: validate against the wire contract -> known dwelling? -> seen before
(by message id)? -> process -> record the id -> PUBACK. Rejections are counted per
reason and acknowledged (redelivering them would not make them valid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, Protocol

from hub.config import BrokerSettings
from hub.context import AlarmSink, Registry
from hub.dedup import Deduplicator
from hub.errors import ConfigError
from hub.storage.base import Point, StoredEvent, TimeSeriesStore
from sensors.contract import (
    AlarmMessage,
    Channel,
    Event,
    Message,
    ReadingsBatch,
    Status,
    decode,
    subscription,
)
from sensors.errors import ContractError

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

# A message whose processing fails this often (a bug or a poison message) is dropped
# and logged at ERROR instead of blocking the session forever.
MAX_ATTEMPTS: Final = 5
WARN_EVERY_S: Final = 10.0  # at most one warning per rejection reason this often

Outcome = Literal["accepted", "duplicate", "rejected"]


class PresenceObserver(Protocol):
    async def observe(
        self, dwelling: str, now: float, status: Status | None, retained: bool
    ) -> None: ...


class IngestCounters:
    """Implements hub.context.IngestStats. Touched only from the event loop."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def incr(self, key: str, n: int = 1) -> None:
        self._counts[key] = self._counts.get(key, 0) + n

    def get(self, key: str) -> int:
        return self._counts.get(key, 0)

    def counters(self) -> dict[str, int]:
        return dict(self._counts)


class _RateLimitedWarnings:
    """One WARNING per key per WARN_EVERY_S, with how many were held back: a flood of
    bad messages must not flood the log."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, key: str, msg: str, *args: object) -> None:
        now = self._clock()
        if now - self._last.get(key, -WARN_EVERY_S) < WARN_EVERY_S:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        self._last[key] = now
        suffix = f" ({held} similar held back)" if held else ""
        log.warning("%s%s", msg % args, suffix)


def tls_context(b: BrokerSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=None if b.ca_file is None else str(b.ca_file))
    if b.cert_file is not None:
        ctx.load_cert_chain(str(b.cert_file), None if b.key_file is None else str(b.key_file))
    if b.tls_insecure:
        ctx.check_hostname = False
    return ctx


def check_tls(b: BrokerSettings) -> None:
    """Fail at start-up, not in the reconnect loop, on unreadable TLS files."""
    if b.tls:
        try:
            tls_context(b)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"broker TLS files: {exc}") from exc


class Ingest:
    def __init__(
        self,
        broker: BrokerSettings,
        *,
        registry: Registry,
        store: TimeSeriesStore,
        dedup: Deduplicator,
        presence: PresenceObserver,
        alarms: AlarmSink,
        clock: Callable[[], float],
        counters: IngestCounters | None = None,
    ) -> None:
        self._broker = broker
        self._registry = registry
        self._store = store
        self._dedup = dedup
        self._presence = presence
        self._alarms = alarms
        self._clock = clock
        self.stats = counters or IngestCounters()
        self._warnings = _RateLimitedWarnings(clock)
        self._attempts: dict[str, int] = {}
        self.connected = asyncio.Event()

    # -- the pure-ish core: one message in, an outcome out -----------------------

    async def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> Outcome:
        """Validate and process one message. Returns when it may be acknowledged;
        raises when it must not be (so the broker redelivers it)."""
        now = self._clock()
        try:
            parsed, msg = decode(topic, payload)
        except ContractError as exc:
            return self._reject(exc.reason, topic, exc.detail)
        if parsed.channel is Channel.CMD:
            return self._reject("unexpected_channel", topic, "commands go to dwellings")
        if self._registry.dwelling(parsed.dwelling) is None:
            return self._reject("unknown_dwelling", topic, parsed.dwelling)

        # Status is a state, not an event: the newest wins (presence ignores older ones),
        # and a retained copy seen again must still reach presence after a restart, so
        # it skips de-duplication.
        is_status = isinstance(msg, Status)
        if not is_status and self._dedup.seen(msg.id):
            self.stats.incr("duplicate")
            return "duplicate"
        try:
            await self._process(msg, now, retained)
        except Exception:
            attempts = self._attempts.get(msg.id, 0) + 1
            self._attempts[msg.id] = attempts
            self.stats.incr("failed")
            if attempts < MAX_ATTEMPTS:
                raise
            # Giving up on a message is data lost (or an alarm not delivered): ERROR.
            log.exception(
                "dropping %s message %s from %s after %d failed attempts",
                parsed.channel.value,
                msg.id,
                parsed.dwelling,
                attempts,
            )
            self._attempts.pop(msg.id, None)
            self.stats.incr("dropped")
            return "rejected"
        self._attempts.pop(msg.id, None)
        if not is_status:
            self._dedup.record(msg.id, now)
        self.stats.incr(f"accepted.{parsed.channel.value}")
        return "accepted"

    async def _process(self, msg: Message, now: float, retained: bool) -> None:
        """Idempotent: a message processed twice (killed before its id was recorded)
        leaves the same state as once."""
        if isinstance(msg, Status):
            await self._presence.observe(msg.dwelling, now, msg, retained)
            return
        if isinstance(msg, ReadingsBatch):
            await self._store.write_points(
                [Point(msg.dwelling, r.sensor, r.quantity, r.t, r.value) for r in msg.readings]
            )
            self.stats.incr("points", len(msg.readings))
        elif isinstance(msg, Event):
            await self._store.write_event(
                StoredEvent(
                    id=msg.id,
                    dwelling=msg.dwelling,
                    kind=msg.kind,
                    ts=msg.ts,
                    received_at=now,
                    sensor=msg.sensor,
                    detail=dict(msg.detail),
                )
            )
        elif isinstance(msg, AlarmMessage):
            await self._alarms.on_edge_alarm(msg, now)
        await self._presence.observe(msg.dwelling, now, None, retained)

    def _reject(self, reason: str, topic: str, detail: str) -> Outcome:
        self.stats.incr(f"rejected.{reason}")
        self._warnings.warn(reason, "rejected message on %s: %s (%s)", topic[:120], reason, detail)
        return "rejected"

    # -- the I/O shell: one MQTT session after another ----------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a session up until `stop` is set, reconnecting with jittered backoff."""
        import aiomqtt

        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.5
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                # Retrying is the normal answer to a broker restart: WARNING, not ERROR;
                # nothing is lost, unacknowledged messages wait at the broker.
                log.warning("MQTT session ended: %s; reconnecting in %.1f s", exc, delay)
            except Exception:
                self.connected.clear()
                # A processing failure: drop the session so the broker redelivers.
                log.warning("processing failed; reconnecting in %.1f s", delay, exc_info=True)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self._broker.reconnect_max_s)
        self.connected.clear()

    def _client(self) -> aiomqtt.Client:
        import aiomqtt
        import paho.mqtt.client as paho
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        b = self._broker
        password = None if b.password is None else b.password.get_secret_value()
        v5 = b.protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = b.session_expiry_s
        client = aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=password,
            identifier=b.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            # Persistent session: the broker queues QoS 1 messages while the hub is away.
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            keepalive=b.keepalive_s,
            tls_context=tls_context(b) if b.tls else None,
        )
        # aiomqtt 2.x has no manual-ack API but its paho client does: with it on, paho
        # sends no PUBACK until ingest calls ack() after durable processing.
        client._client.manual_ack_set(True)
        client.pending_calls_threshold = 1000
        return client

    def _filters(self) -> list[str]:
        b = self._broker
        out = []
        for channel in (Channel.READINGS, Channel.EVENTS, Channel.ALARMS):
            topic = subscription(channel)
            out.append(f"$share/{b.share_group}/{topic}" if b.shared_subscriptions else topic)
        # Plain: shared subscriptions are not sent retained messages, and every hub
        # worker needs every dwelling's status anyway.
        out.append(subscription(Channel.STATUS))
        return out

    async def _session(self, stop: asyncio.Event) -> None:
        client = self._client()
        async with client:
            for topic in self._filters():
                await client.subscribe(topic, qos=1)
            log.info("MQTT session up: %s as %s", self._broker.url, self._broker.client_id)
            self.connected.set()
            messages = aiter(client.messages)
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    nxt = asyncio.ensure_future(anext(messages))
                    done, _ = await asyncio.wait(
                        {nxt, stopping}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if nxt not in done:
                        # Stopping: a message being waited for is not lost, it was never
                        # acknowledged; processing is never cut off halfway.
                        nxt.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await nxt
                        return
                    message = nxt.result()
                    payload = message.payload
                    raw = payload if isinstance(payload, bytes) else str(payload).encode()
                    await self.handle(str(message.topic), raw, retained=message.retain)
                    client._client.ack(message.mid, message.qos)
            finally:
                stopping.cancel()
                self.connected.clear()
