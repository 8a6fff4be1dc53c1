"""MQTT ingest: every dwelling's readings, events, alarms and status into the hub.

Delivery guarantee, end to end: the hub keeps a persistent MQTT session (a stable
client id, clean_session=False / MQTT 5 clean_start=False with a session expiry), so
QoS 1 messages published while it is down wait at the broker; and it acknowledges a
message (PUBACK) only after processing it durably. aiomqtt 2.x acknowledges on
receipt, so ingest switches its paho client to manual acks. A hub killed mid-message
therefore gets that message again on reconnect; `hub.dedup` and idempotent stores make
the repeat harmless.

Three sessions, each with its own queue at the broker and its own reconnect loop, so
that nothing else can fill the alarms' queue or hold an alarm up: `broker.client_id` for
alarms alone, `<client_id>-control` for events and status, `<client_id>-readings` for
readings batches. When the alarms session comes up the hub asks every dwelling to resend
its unconfirmed alarms (`resend_command`).
Subscriptions are plain (not `$share`) by default: Mosquitto 2.0 does not restore
shared subscriptions after a restart, so messages published before the hub resubscribed
were dropped; a plain subscription is part of the persistent session and is in place the
moment the broker is back.

Per message: validate against the wire contract -> known dwelling? -> within its
budget? -> seen before (by message id)? -> process -> record the id -> PUBACK. For an
alarm message the hub then sends the edge a receipt (`mz/v1/{dwelling}/cmd/receipt`):
the edge keeps the alarm and sends it again until one arrives, so an alarm lost between
broker and hub (a broker crash, a full queue) is not lost end to end. Rejections are
counted per reason and per dwelling and acknowledged (redelivering them would not make
them valid); a dwelling whose messages are refused gets one technical alarm ("refused")
for the operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from hub.broker_tls import tls_context
from hub.budget import BUDGET_READINGS, BudgetPolicy, DwellingBudgets
from hub.commands import checked_test_alarm
from hub.config import BrokerSettings
from hub.context import AlarmSink, Registry
from hub.dead_letters import DeadLetters, letter_key
from hub.dedup import Deduplicator
from hub.errors import ConfigError
from hub.mqtt_acks import ack, manual_acks
from hub.storage.base import Point, StoredEvent, TimeSeriesStore
from sensors.contract import (
    AlarmMessage,
    Channel,
    Command,
    Event,
    Message,
    Readings,
    Severity,
    Status,
    decode,
    decode_readings,
    encode,
    is_pseudo_id,
    parse_topic,
    receipt_command,
    resend_command,
    split_rows,
    subscription,
    time_ok,
)
from sensors.errors import ContractError

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

# A failed message is tried again in place after RETRY_S x 2**n (n = failures so far);
# one that keeps failing while the stores answer is parked (hub.dead_letters).
RETRY_S: Final = 0.05
# The most messages the readings session takes in one batch (one write, one PUBACK run).
# A batch holds the event loop it shares with the alarm session for its whole time
# (~25 ms at 100 here), so this bounds how long an alarm waits behind a backlog.
MAX_BATCH: Final = 100
READINGS_SUFFIX: Final = f"/{Channel.READINGS.value}"
CHANNEL_OF: Final = {
    "readings": Channel.READINGS,
    "event": Channel.EVENTS,
    "alarm": Channel.ALARMS,
    "status": Channel.STATUS,
}
WARN_EVERY_S: Final = 10.0  # at most one warning per rejection reason this often
# A technical alarm for the operators ("refused", "alarms_refused", "clock") is asked for
# at most this often per dwelling (it is one open alarm per dwelling and key anyway; this
# keeps a flood from costing a query per message).
REFUSED_ALARM_EVERY_S: Final = 60.0
REFUSED_KEY: Final = "refused"
# A dwelling's alarm raise refused by its budget: maybe a resident's real alarm.
ALARMS_REFUSED_KEY: Final = "alarms_refused"
CLOCK_KEY: Final = "clock"  # a dwelling whose alarms come with a time off the hub's clock
# Registered dwellings are looked up at most this often (a flood must not cost one
# registry query per message); a removal takes effect within this time.
REGISTRY_CACHE_S: Final = 5.0
RECEIPT_TIMEOUT_S: Final = 5.0

Outcome = Literal["accepted", "duplicate", "rejected"]


_new_tuple: Final = tuple.__new__


def _channel(msg: Message | Readings) -> Channel:
    return Channel.READINGS if isinstance(msg, Readings) else CHANNEL_OF[msg.type]


class SessionKind(StrEnum):
    ALARMS = "alarms"  # alarms alone: nothing else can fill their queue at the broker
    CONTROL = "control"  # events and status
    BULK = "readings"  # readings batches


CHANNELS: Final[dict[SessionKind, tuple[Channel, ...]]] = {
    SessionKind.ALARMS: (Channel.ALARMS,),
    SessionKind.CONTROL: (Channel.EVENTS, Channel.STATUS),
    SessionKind.BULK: (Channel.READINGS,),
}


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    retained: bool = False
    # A reading batch decoded ahead by the readings receiver process (hub.readings_receiver)
    lean: Readings | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    receipt: Command | None = None  # to send to the edge once the message is acknowledged


# Without a receipt: shared (a verdict per reading batch adds up at ten thousand a second).
ACCEPTED: Final = Verdict("accepted")
DUPLICATE: Final = Verdict("duplicate")
REJECTED: Final = Verdict("rejected")


class Delivered(Protocol):
    """A message as a session delivered it: `Incoming`, or `hub.bulk_session.Received`."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def retained(self) -> bool: ...
    @property
    def lean(self) -> Readings | None: ...


class IngestAlarms(AlarmSink, Protocol):
    async def open_count(self, dwelling: str) -> int: ...


class PresenceObserver(Protocol):
    async def observe(
        self,
        dwelling: str,
        now: float,
        status: Status | None,
        retained: bool,
        *,
        after_goodbye: bool = True,
        made_at: float | None = None,
    ) -> None: ...

    async def observe_readings(self, made_at: Mapping[str, float], now: float) -> None: ...


class IngestCounters:
    """Implements hub.context.IngestStats. Touched only from the event loop."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._refused: dict[str, dict[str, int]] = {}

    def incr(self, key: str, n: int = 1) -> None:
        self._counts[key] = self._counts.get(key, 0) + n

    def get(self, key: str) -> int:
        return self._counts.get(key, 0)

    def counters(self) -> dict[str, int]:
        return dict(self._counts)

    def refuse(self, dwelling: str, reason: str, n: int = 1) -> None:
        """A registered dwelling's message (or reading) refused; bounded: registered
        dwellings only."""
        per = self._refused.setdefault(dwelling, {})
        per[reason] = per.get(reason, 0) + n

    def refused(self) -> dict[str, dict[str, int]]:
        """Refused messages per dwelling and reason."""
        return {d: dict(r) for d, r in self._refused.items()}


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


def _incoming(message: aiomqtt.Message) -> Incoming:
    payload = message.payload
    raw = payload if isinstance(payload, bytes) else str(payload).encode()
    return Incoming(str(message.topic), raw, bool(message.retain))


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
        alarms: IngestAlarms,
        clock: Callable[[], float],
        counters: IngestCounters | None = None,
        budgets: DwellingBudgets | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._broker = broker
        self._dead = dead_letters
        self._budgets = budgets or DwellingBudgets(BudgetPolicy())
        self._registry = registry
        self._store = store
        self._dedup = dedup
        self._presence = presence
        self._alarms = alarms
        self._clock = clock
        self.stats = counters or IngestCounters()
        self._warnings = _RateLimitedWarnings(clock)
        self._known: dict[str, tuple[bool, float]] = {}
        self._refused_alarmed: dict[tuple[str, str], float] = {}
        self._up: set[SessionKind] = set()
        self.connected = asyncio.Event()  # every session is up
        # The status session is up: presence may time dwellings out only then.
        self.hearing = asyncio.Event()

    # -- the pure-ish core: one message in, a verdict out -------------------------

    async def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> Verdict:
        """Validate and process one message. Returns when it may be acknowledged;
        raises when it must not be (so the broker redelivers it)."""
        now = self._clock()
        admitted = await self._admit(topic, payload, now)
        if isinstance(admitted, Verdict):
            return admitted
        return await self._admitted(admitted, topic, payload, now, retained)

    async def _admitted(
        self, msg: Message | Readings, topic: str, payload: bytes, now: float, retained: bool
    ) -> Verdict:
        """The rest of `handle` for a message `_admit` let through (its budget charged)."""
        # Status is a state, not an event: the newest wins (presence ignores older ones),
        # and a retained copy seen again must still reach presence after a restart, so
        # it skips de-duplication.
        is_status = isinstance(msg, Status)
        if not is_status and self._dedup.seen(msg.id):
            self.stats.incr("duplicate")
            return Verdict("duplicate", self._receipt(msg, now))
        if isinstance(msg, AlarmMessage) and msg.action == "raise":
            over = self._budgets.admit_alarm(
                msg.dwelling, open_alarms=await self._alarms.open_count(msg.dwelling), now=now
            )
            if over is not None:
                # No receipt: the edge sends it again later, when it may fit. The operators
                # are told at high severity: this may be a resident's real alarm.
                return await self._refuse(
                    msg.dwelling,
                    over,
                    topic,
                    "alarm over its budget",
                    now,
                    key=ALARMS_REFUSED_KEY,
                    severity=Severity.HIGH,
                )
        if not await self._process_or_park(msg, topic, payload, now, retained):
            return REJECTED
        if not is_status:
            self._dedup.record(msg.id, now)
        self.stats.incr(f"accepted.{_channel(msg).value}")
        return Verdict("accepted", self._receipt(msg, now))

    async def handle_batch(self, items: Sequence[Delivered]) -> list[Verdict]:
        """Validate and process several messages, the verdicts in their order. Reading
        batches share one time-series write and one record of their ids, which also tells
        the ones processed before (this is what lets ingest keep up with the broker);
        anything else goes through `handle` one by one. Returns when every message may be
        acknowledged."""
        verdicts: list[Verdict | None] = [None] * len(items)
        batches: list[tuple[int, Readings]] = []
        now = self._clock()
        self._look_up_dwellings([item.topic for item in items], now)
        for i, item in enumerate(items):
            if not item.topic.endswith(READINGS_SUFFIX):
                verdicts[i] = await self.handle(item.topic, item.payload, retained=item.retained)
                continue
            admitted = await self._admit(item.topic, item.payload, now, item.lean)
            if isinstance(admitted, Verdict):
                verdicts[i] = admitted
            elif isinstance(admitted, Readings):
                batches.append((i, admitted))
            else:  # a readings topic always decodes to Readings; keep the general path
                verdicts[i] = await self._admitted(
                    admitted, item.topic, item.payload, now, item.retained
                )
        if batches:
            # No lookup first: a batch processed before is stored again (the same points,
            # idempotent) and recognised when its id is recorded, in one statement.
            fresh: dict[str, tuple[int, Readings]] = {}
            for i, b in batches:
                if b.id in fresh:  # earlier in this batch (redelivered meanwhile)
                    self.stats.incr("duplicate")
                    verdicts[i] = DUPLICATE
                else:
                    fresh[b.id] = (i, b)
            try:
                await self._store_batches([b for _, b in fresh.values()], now)
            except Exception:
                # One of them may be poison: each on its own, so only that one is parked.
                self.stats.incr("failed")
                log.warning("a batch of %d readings messages failed; one by one", len(fresh))
                for i, b in fresh.values():
                    verdicts[i] = await self._admitted(
                        b, items[i].topic, items[i].payload, now, False
                    )
            else:
                new = self._dedup.record_new(fresh, now)
                for message_id, (i, _) in fresh.items():
                    if message_id in new:
                        verdicts[i] = ACCEPTED
                    else:  # processed before (by this worker or another)
                        self.stats.incr("duplicate")
                        verdicts[i] = DUPLICATE
                self.stats.incr("accepted.readings", len(new))
        return [v if v is not None else REJECTED for v in verdicts]

    async def _store_batches(self, batches: Sequence[Readings], now: float) -> None:
        points: list[Point] = []
        for msg in batches:
            points += self._points(msg, now)
        await self._store.write_points(points)
        self.stats.incr("points", len(points))
        newest: dict[str, float] = {}
        for msg in batches:
            newest[msg.dwelling] = max(msg.ts, newest.get(msg.dwelling, msg.ts))
        await self._presence.observe_readings(newest, now)

    async def _admit(
        self, topic: str, payload: bytes, now: float, pre: Readings | None = None
    ) -> Message | Readings | Verdict:
        """Everything that refuses a message before any state is touched: the topic, the
        dwelling, the budgets, the contract. Cheap for a flood: the budget is asked
        before the message is decoded. A reading batch comes out as `Readings` (`pre`:
        decoded ahead, `Incoming.lean`)."""
        try:
            where = parse_topic(topic)
        except ContractError as exc:
            return self._reject(exc.reason, topic, exc.detail)
        dwelling, channel = where.dwelling, where.channel
        if not self._registered(dwelling, now):
            return self._reject("unknown_dwelling", topic, dwelling)
        if channel is Channel.CMD:
            return await self._refuse(
                dwelling, "unexpected_channel", topic, "commands go to dwellings", now
            )
        # Every reading has exactly one "quantity" key (hub.budget, docs/hub.md).
        raw_readings = payload.count(b'"quantity"') if channel is Channel.READINGS else 0
        over = self._budgets.admit(
            dwelling, channel, readings=raw_readings, size=len(payload), now=now
        )
        if over is not None:
            return await self._refuse(dwelling, over, topic, "over its budget", now)
        msg: Message | Readings
        try:
            if channel is Channel.READINGS:
                msg = decode_readings(where, payload, now=now, pre=pre)
            else:
                _parsed, msg = decode(where, payload, now=now)
        except ContractError as exc:
            return await self._refuse(dwelling, exc.reason, topic, exc.detail, now)
        if isinstance(msg, AlarmMessage) and not time_ok(msg.ts, now):
            msg = await self._clock_off(msg, topic, now)
        if isinstance(msg, Readings) and len(msg.rows) > raw_readings:
            return await self._refuse(
                dwelling, BUDGET_READINGS, topic, "more readings than its raw keys showed", now
            )
        return msg

    async def _process_or_park(
        self, msg: Message | Readings, topic: str, payload: bytes, now: float, retained: bool
    ) -> bool:
        """Process `msg`, trying again in place on failure. A failure while the stores are
        down raises (the session ends, the broker keeps the message); one that keeps
        failing while they answer is the message's own: after MAX_ATTEMPTS it is parked
        (hub.dead_letters) and False returned, and the session goes on."""
        key = letter_key(msg.id, topic, payload)
        failures = 0
        while True:
            try:
                await self._process(msg, now, retained)
            except Exception as exc:
                self.stats.incr("failed")
                if self._dead is None or not self._dead.healthy():
                    raise
                attempts = self._dead.failed(key, topic, payload, repr(exc), now)
                if attempts < self._dead.max_attempts:
                    failures += 1
                    log.warning("processing %s failed (attempt %d)", key, attempts, exc_info=True)
                    await asyncio.sleep(RETRY_S * 2 ** min(failures, 6))
                    continue
                # Giving up on a message is data held back (or an alarm not delivered):
                # ERROR, and the operators see the count.
                log.error(
                    "parked %s message %s from %s after %d failed attempts: %r",
                    _channel(msg).value,
                    msg.id,
                    msg.dwelling,
                    attempts,
                    exc,
                )
                self._dead.park(key, now)
                self.stats.incr("parked")
                return False
            if failures and self._dead is not None:
                self._dead.forget(key)
            return True

    async def _clock_off(self, msg: AlarmMessage, topic: str, now: float) -> AlarmMessage:
        """An alarm whose time is off the hub's clock (a Pi without a real-time clock,
        booted before NTP) is never lost for it: it is taken at the hub's time, flagged
        `clock_off`, counted, and the operators get one technical alarm `clock`."""
        self.stats.incr("corrected.alarm_time")
        self._warnings.warn(
            "clock_off",
            "alarm on %s made at %r, off the hub's clock: taken at the hub's time",
            topic[:120],
            msg.ts,
        )
        await self._tell_operators(msg.dwelling, CLOCK_KEY, Severity.LOW, "clock_off", now)
        return msg.model_copy(update={"ts": now, "detail": {**msg.detail, "clock_off": True}})

    @staticmethod
    def _receipt(msg: Message | Readings, now: float) -> Command | None:
        if isinstance(msg, AlarmMessage):
            return receipt_command(msg.dwelling, msg.id, now)
        return None

    def _look_up_dwellings(self, topics: Sequence[str], now: float) -> None:
        """Refresh, in one registry query, what the cache no longer knows of the dwellings
        `topics` name (`_registered` then finds each: one query per batch, not per
        dwelling)."""
        stale: set[str] = set()
        for topic in topics:
            parts = topic.split("/", 3)
            if len(parts) > 2 and parts[1] == "v1" and parts[2] not in stale:
                cached = self._known.get(parts[2])
                if (cached is None or cached[1] <= now) and is_pseudo_id(parts[2]):
                    stale.add(parts[2])
        if stale:
            known = self._registry.registered(stale)
            self._remember({d: d in known for d in stale}, now)

    def _registered(self, dwelling: str, now: float) -> bool:
        cached = self._known.get(dwelling)
        if cached is not None and cached[1] > now:
            return cached[0]
        known = self._registry.dwelling(dwelling) is not None
        self._remember({dwelling: known}, now)
        return known

    def _remember(self, answers: Mapping[str, bool], now: float) -> None:
        """The registry's answers, cached for REGISTRY_CACHE_S."""
        if len(self._known) + len(answers) > 100_000:  # a spray of ids: start over
            self._known.clear()
        until = now + REGISTRY_CACHE_S
        for dwelling, known in answers.items():
            self._known[dwelling] = (known, until)

    async def _process(self, msg: Message | Readings, now: float, retained: bool) -> None:
        """Idempotent: a message processed twice (killed before its id was recorded)
        leaves the same state as once."""
        if isinstance(msg, Status):
            await self._presence.observe(msg.dwelling, now, msg, retained)
            return
        if isinstance(msg, Readings):
            # A reading out of its quantity's range or time window is refused by itself;
            # the rest of the batch is good data (idempotent: the split is deterministic
            # for a given `now`, and a point stored twice is one point).
            points = self._points(msg, now)
            await self._store.write_points(points)
            self.stats.incr("points", len(points))
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
            # A test alarm (hub.commands) only if the hub asked for that test.
            await self._alarms.on_edge_alarm(checked_test_alarm(self._registry, msg, now), now)
        # A readings batch may be a backlog from before a goodbye: it does not cancel it.
        # Its source time tells presence whether it was made before the hub gave up on a
        # timed-out connection (held by the network, delivered on its return: old news).
        await self._presence.observe(
            msg.dwelling,
            now,
            None,
            retained,
            after_goodbye=not isinstance(msg, Readings),
            made_at=msg.ts,
        )

    def _points(self, msg: Readings, now: float) -> list[Point]:
        kept, refused = split_rows(msg.rows, now)
        for reason, n in refused.items():
            self.stats.incr(f"rejected.{reason}", n)
            self.stats.refuse(msg.dwelling, reason, n)
        d = msg.dwelling
        # tuple.__new__: a NamedTuple's own constructor is Python, a call per point.
        return [_new_tuple(Point, (d, *row)) for row in kept]

    def _reject(self, reason: str, topic: str, detail: str) -> Verdict:
        self.stats.incr(f"rejected.{reason}")
        self._warnings.warn(reason, "rejected message on %s: %s (%s)", topic[:120], reason, detail)
        return REJECTED

    async def _refuse(
        self,
        dwelling: str,
        reason: str,
        topic: str,
        detail: str,
        now: float,
        *,
        key: str = REFUSED_KEY,
        severity: Severity = Severity.LOW,
    ) -> Verdict:
        """A registered dwelling's message refused: counted for it, and its operators
        told once (one open technical alarm per dwelling and `key`)."""
        self.stats.refuse(dwelling, reason)
        verdict = self._reject(reason, topic, detail)
        await self._tell_operators(dwelling, key, severity, reason, now)
        return verdict

    async def _tell_operators(
        self, dwelling: str, key: str, severity: Severity, reason: str, now: float
    ) -> None:
        """One technical alarm per dwelling and `key` (the alarm service keeps one open),
        asked for at most every REFUSED_ALARM_EVERY_S: a flood costs no query per message.
        A failure is logged and tried again next time; what was refused stays refused."""
        last = self._refused_alarmed.get((dwelling, key))
        if last is not None and now - last < REFUSED_ALARM_EVERY_S:
            return
        self._refused_alarmed[(dwelling, key)] = now
        try:
            await self._alarms.raise_technical(dwelling, key, severity, {"reason": reason}, now)
        except Exception:
            log.warning("could not raise the %s alarm for %s", key, dwelling)
            self._refused_alarmed.pop((dwelling, key), None)

    # -- the I/O shell: one MQTT session after another, per session kind -------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep every session up until `stop` is set."""
        try:
            async with asyncio.TaskGroup() as tg:
                for kind in SessionKind:
                    tg.create_task(self._keep(kind, stop), name=f"ingest-{kind.value}")
        finally:
            self.connected.clear()
            self.hearing.clear()

    async def _keep(self, kind: SessionKind, stop: asyncio.Event) -> None:
        """One session kind, reconnecting with jittered backoff (capped at a few s)."""
        import aiomqtt

        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(kind, stop)
                delay = 0.5
            except aiomqtt.MqttError as exc:
                # Retrying is the normal answer to a broker restart: WARNING, not ERROR;
                # nothing is lost, unacknowledged messages wait at the broker.
                log.warning(
                    "MQTT %s session ended: %s; reconnecting in %.1f s", kind.value, exc, delay
                )
            except Exception:
                # A processing failure: drop the session so the broker redelivers.
                log.warning(
                    "processing failed (%s); reconnecting in %.1f s",
                    kind.value,
                    delay,
                    exc_info=True,
                )
            finally:
                self._down(kind)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self._broker.reconnect_max_s)

    def _down(self, kind: SessionKind) -> None:
        self._up.discard(kind)
        self.connected.clear()
        if kind is SessionKind.CONTROL:
            self.hearing.clear()

    def client_id(self, kind: SessionKind) -> str:
        base = self._broker.client_id
        return base if kind is SessionKind.ALARMS else f"{base}-{kind.value}"

    def _client(self, kind: SessionKind) -> aiomqtt.Client:
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
            identifier=self.client_id(kind),
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            # Persistent session: the broker queues QoS 1 messages while the hub is away.
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            keepalive=b.keepalive_s,
            tls_context=tls_context(b) if b.tls else None,
        )
        # No PUBACK until ingest acknowledges a message after durable processing.
        manual_acks(client)
        client.pending_calls_threshold = 1000
        return client

    def filters(self, kind: SessionKind) -> tuple[list[str], list[str]]:
        """(subscribe, unsubscribe) for a session kind. The persistent session may still
        hold filters from another configuration (shared or not, or an older hub that
        kept every channel in one session): those are unsubscribed, or the session
        would get messages twice or hold the other kind's."""
        b = self._broker

        def variants(channel: Channel) -> tuple[str, str]:
            plain = subscription(channel)
            return plain, f"$share/{b.share_group}/{plain}"

        want: list[str] = []
        drop: list[str] = []
        for channel in (Channel.READINGS, Channel.EVENTS, Channel.ALARMS, Channel.STATUS):
            plain, shared = variants(channel)
            if channel not in CHANNELS[kind]:
                drop += [plain, shared]
            elif b.shared_subscriptions and channel is not Channel.STATUS:
                want.append(shared)
                drop.append(plain)
            else:
                # Status stays plain: shared subscriptions are not sent retained
                # messages, and every hub worker needs every dwelling's status anyway.
                want.append(plain)
                drop.append(shared)
        return want, drop

    def _session_up(self, kind: SessionKind) -> None:
        log.info(
            "MQTT session up: %s as %s (%s)", self._broker.url, self.client_id(kind), kind.value
        )
        self._up.add(kind)
        if kind is SessionKind.CONTROL:
            self.hearing.set()
        if self._up == set(SessionKind):
            self.connected.set()

    async def _bulk_session(self, stop: asyncio.Event) -> None:
        """Readings: on paho's own thread (hub.bulk_session), in batches of what has
        arrived, each batch acknowledged once it is durable."""
        from hub.bulk_session import BulkSession
        from hub.readings_receiver import ReceiverSession

        kind = SessionKind.BULK
        b = self._broker
        want, drop = self.filters(kind)
        session: BulkSession | ReceiverSession
        if b.receiver == "process":
            session = ReceiverSession(b, self.client_id(kind))
        else:
            session = BulkSession(b, self.client_id(kind), tls_context(b) if b.tls else None)
        async with session:
            await session.subscribe(want)
            await session.unsubscribe(drop)
            self._session_up(kind)
            while taken := await session.batch(MAX_BATCH, stop):
                await self.handle_batch(taken)
                # Only now, with every message of the batch durable, the PUBACKs.
                for message in taken:
                    session.ack(message)

    async def _session(self, kind: SessionKind, stop: asyncio.Event) -> None:
        if kind is SessionKind.BULK:
            await self._bulk_session(stop)
            return
        client = self._client(kind)
        want, drop = self.filters(kind)
        async with client:
            for topic in want:
                await client.subscribe(topic, qos=1)
            await client.unsubscribe(drop)
            self._session_up(kind)
            # The resend requests go out beside the message loop, not before it: at a
            # fleet's size they take a while, and an alarm already queued must not wait.
            resends = (
                asyncio.create_task(self._ask_for_resends(client), name="ingest-resends")
                if kind is SessionKind.ALARMS
                else None
            )
            messages = aiter(client.messages)
            stopping = asyncio.ensure_future(stop.wait())
            pending: asyncio.Future[aiomqtt.Message] | None = None
            try:
                while True:
                    if pending is None:
                        pending = asyncio.ensure_future(anext(messages))
                    waits: set[asyncio.Future[Any]] = {pending, stopping}
                    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if pending not in done:
                        return  # stopping (the finally below lets go of the wait)
                    taken = [pending.result()]
                    pending = None
                    await self._handle_taken(client, taken)
            finally:
                stopping.cancel()
                if resends is not None:
                    resends.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await resends
                if pending is not None:
                    # A message being waited for is not lost: it was never acknowledged,
                    # the broker delivers it again. Processing is never cut off halfway.
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await pending

    async def _handle_taken(self, client: aiomqtt.Client, taken: list[aiomqtt.Message]) -> None:
        items = [_incoming(m) for m in taken]
        if len(items) == 1:
            one = items[0]
            verdicts = [await self.handle(one.topic, one.payload, retained=one.retained)]
        else:
            verdicts = await self.handle_batch(items)
        # Only now, with every message of the batch durable, the PUBACKs.
        for message in taken:
            ack(client, message)
        for verdict in verdicts:
            if verdict.receipt is not None:
                await self._send_receipt(client, verdict.receipt)

    async def _ask_for_resends(self, client: aiomqtt.Client) -> None:
        """The alarms session is (back) up: what the broker held for it while the hub was
        away may have been dropped (a full queue, a broker crash), so every dwelling is
        asked to send its unconfirmed alarms now rather than at its next resend time.
        QoS 0: best effort (an edge that misses it resends on its own schedule)."""
        now = self._clock()
        dwellings = [d.id for d in self._registry.dwellings()]
        for dwelling in dwellings:
            topic, payload = encode(resend_command(dwelling, now))
            try:
                await client.publish(topic, payload, qos=0)
            except Exception as exc:
                log.info("resend requests stopped after an error: %s", exc)
                return
        log.info("asked %d dwellings to resend unconfirmed alarms", len(dwellings))
        self.stats.incr("resend_requests", len(dwellings))

    async def _send_receipt(self, client: aiomqtt.Client, receipt: Command) -> None:
        """After the PUBACK, in line (alarms are rare; refused ones get none). A lost
        receipt only means the edge sends the alarm again, which de-duplication answers
        with another receipt: a failure here is logged, never raised."""
        topic, payload = encode(receipt)
        try:
            await client.publish(topic, payload, qos=1, timeout=RECEIPT_TIMEOUT_S)
        except Exception as exc:  # the session's own loop notices a dead connection
            log.info("receipt for %s not sent: %s", receipt.args.get("message"), exc)
            return
        self.stats.incr("receipts")
