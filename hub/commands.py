"""Commands to a dwelling's edge (`sensors.commands`): checked, audited, sent, answered.

    sender = CommandSender(settings.broker, registry, clock)
    cmd = await sender.send("dw-001", "test_alarm", {}, Actor("anna", "operator", "console"))

- **Checked** with the edge's own parser (`sensors.commands.parse`) before anything is
  sent: a command the edge would refuse is refused here (`InvalidValue`).
- **Audited** before it is sent (`dwelling.command.<name>`, detail `id=<command id>` and
  its arguments): no audit row, no command. The audit trail is also the hub's record of
  what it sent; a test alarm counts as a test only if its command is in it.
- **Sent** on `mz/v1/{dwelling}/cmd/{name}`, QoS 1, over a short connection of the hub's
  broker account (the broker's ACL lets only hub accounts publish commands). The edge keeps
  no broker session: a dwelling offline at that moment never gets the command, and its
  row stays "no answer".
- **Answered** by the edge's `command_ack` event, which ingest stores like any event;
  `recent_commands` pairs the audit rows with those answers for the console and the API.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from hub.config import BrokerSettings
from hub.context import Actor, AuditEntry, CommandSending, Registry, ResidentCard
from hub.errors import AuditFailed, BrokerUnavailable, InvalidValue, NotFound, TooSoon
from hub.storage.routed import EventStore
from sensors import commands as wire
from sensors.contract import AlarmMessage, Command, DetailValue, encode
from sensors.errors import CommandRefused

log = logging.getLogger(__name__)

AUDIT_PREFIX: Final = "dwelling.command."
SEND_TIMEOUT_S: Final = 10.0
# An answer later than this after the command is not waited for: "no answer".
ANSWER_WITHIN_S: Final = 120.0
# How far back the console's list looks, and a test alarm's command may lie.
RECENT_S: Final = 7 * 86400.0
TEST_VALID_S: Final = 86400.0
# One test alarm per dwelling this often: each is charged to the dwelling's alarm budget
# (hub.budget, 60 raises an hour), which is for its resident's alarms. As long as an
# answer is waited for: a test that got none may be tried again then.
TEST_ALARM_EVERY_S: Final = ANSWER_WITHIN_S

State = Literal["waiting", "ok", "refused", "no_answer"]


def build(dwelling: str, name: str, args: dict[str, DetailValue], now: float) -> Command:
    """The command, checked as the edge will check it; InvalidValue if it would refuse."""
    try:
        cmd = wire.command(dwelling, name, now, args)
        wire.parse(cmd, now)
    except CommandRefused as exc:
        raise InvalidValue("command", f"{exc.reason}: {exc.detail}") from exc
    except ValueError as exc:  # pydantic: an argument the wire contract refuses
        raise InvalidValue("command", str(exc).splitlines()[0][:200]) from exc
    return cmd


def audit_detail(cmd: Command) -> str:
    args = " ".join(f"{k}={v}" for k, v in cmd.args.items())
    return f"id={cmd.id} {args}".strip()[:500]


def command_id(entry: AuditEntry) -> str | None:
    first = entry.detail.split(" ", 1)[0]
    return first[3:] if first.startswith("id=") else None


async def publish(broker: BrokerSettings, cmd: Command) -> None:
    """One command over a connection of its own (commands are rare): QoS 1, returns when
    the broker has it. BrokerUnavailable when it cannot be delivered to the broker."""
    import aiomqtt

    from hub.broker_tls import tls_context

    topic, payload = encode(cmd)
    password = None if broker.password is None else broker.password.get_secret_value()
    try:
        async with aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=password,
            # Not the ingest sessions' ids: taking one over would end that session.
            identifier=f"{broker.client_id}-cmd-{uuid.uuid4().hex[:8]}",
            protocol=aiomqtt.ProtocolVersion.V5
            if broker.protocol == "5"
            else aiomqtt.ProtocolVersion.V311,
            tls_context=tls_context(broker) if broker.tls else None,
            timeout=SEND_TIMEOUT_S,
        ) as client:
            await client.publish(topic, payload, qos=1, timeout=SEND_TIMEOUT_S)
    except (aiomqtt.MqttError, OSError) as exc:
        raise BrokerUnavailable(f"command {cmd.name} to {cmd.dwelling} not sent: {exc}") from exc


class CommandSender:
    def __init__(
        self, broker: BrokerSettings, registry: Registry, clock: Callable[[], float]
    ) -> None:
        self._broker = broker
        self._registry = registry
        self._clock = clock

    async def send(
        self, dwelling: str, name: str, args: dict[str, DetailValue], actor: Actor
    ) -> Command:
        """Check, audit, send. NotFound (no such dwelling), InvalidValue (a command the
        edge would refuse), TooSoon (a second test alarm within TEST_ALARM_EVERY_S),
        AuditFailed, BrokerUnavailable."""
        if self._registry.dwelling(dwelling) is None:
            raise NotFound("dwelling", dwelling)
        now = self._clock()
        cmd = build(dwelling, name, args, now)
        if name == wire.TEST_ALARM:
            await asyncio.to_thread(self._not_too_soon, dwelling, now)
        await asyncio.to_thread(
            self._registry.audit,
            actor,
            AUDIT_PREFIX + name,
            now,
            dwelling=dwelling,
            detail=audit_detail(cmd),
        )
        await publish(self._broker, cmd)
        log.info("command %s (%s) sent to %s", cmd.id, name, dwelling)
        return cmd

    def _not_too_soon(self, dwelling: str, now: float) -> None:
        since = now - TEST_ALARM_EVERY_S
        last = [
            e.at
            for e in self._registry.audit_log(dwelling, since, 50)
            if e.action == AUDIT_PREFIX + wire.TEST_ALARM
        ]
        if last:
            wait = max(1.0, max(last) + TEST_ALARM_EVERY_S - now)
            raise TooSoon(f"a test alarm went to {dwelling} less than 2 min ago", wait)


@dataclass(frozen=True, slots=True)
class SentCommand:
    id: str
    dwelling: str
    name: str
    args: str  # as audited: "key=bed-1 duration_s=3600"
    sent_at: float
    by: str
    source: str
    ack: wire.CommandAck | None
    state: State


def _state(sent_at: float, ack: wire.CommandAck | None, now: float) -> State:
    if ack is not None:
        return ack.result
    return "waiting" if now - sent_at < ANSWER_WITHIN_S else "no_answer"


def sent_commands(registry: Registry, dwelling: str, now: float) -> list[AuditEntry]:
    entries = registry.audit_log(dwelling, now - RECENT_S, 500)
    return [e for e in entries if e.action.startswith(AUDIT_PREFIX)]


async def recent_commands(
    registry: Registry,
    store: EventStore | None,
    dwelling: str,
    now: float,
    limit: int = 10,
) -> list[SentCommand]:
    """The commands sent to `dwelling` lately, newest first, each with the edge's answer."""
    entries = (await asyncio.to_thread(sent_commands, registry, dwelling, now))[:limit]
    answers: dict[str, wire.CommandAck] = {}
    if entries and store is not None:
        since = min(e.at for e in entries) - 60
        for ev in await store.events(dwelling, since, now + 3600, 500, kinds=[wire.ACK_EVENT]):
            ack = wire.read_ack(ev.kind, ev.ts, dict(ev.detail))
            if ack is not None:
                answers.setdefault(ack.command, ack)
    out: list[SentCommand] = []
    for e in entries:
        cid = command_id(e)
        if cid is None:
            continue
        ack = answers.get(cid)
        out.append(
            SentCommand(
                cid,
                dwelling,
                e.action[len(AUDIT_PREFIX) :],
                e.detail.split(" ", 1)[1] if " " in e.detail else "",
                e.at,
                e.actor,
                e.source,
                ack,
                _state(e.at, ack, now),
            )
        )
    return out


def checked_test_alarm(registry: Registry, msg: AlarmMessage, now: float) -> AlarmMessage:
    """A test alarm is one only if the hub sent its dwelling that test command lately; any
    other alarm claiming to be a test is handled as the real alarm it may be (flagged
    `test_unverified`), never dropped."""
    cid = wire.is_test_alarm(dict(msg.detail))
    if cid is None:
        return msg
    since = now - TEST_VALID_S
    asked = any(
        e.action == AUDIT_PREFIX + wire.TEST_ALARM and command_id(e) == cid
        for e in registry.audit_log(msg.dwelling, since, 500)
    )
    if asked:
        return msg
    log.warning(
        "alarm %s from %s says it is a test of command %s, which the hub did not send:"
        " handled as a real alarm",
        msg.alarm_id,
        msg.dwelling,
        cid,
    )
    detail = {**msg.detail, wire.TEST_KEY: False, "test_unverified": True}
    return msg.model_copy(update={"detail": detail})


async def follow_card(
    sender: CommandSending | None,
    before: ResidentCard | None,
    after: ResidentCard,
    actor: Actor,
) -> Command | None:
    """The resident card's care plan (NEWS2 scale, oxygen) changed: send it to the edge,
    whose NEWS2 scores with it. Best effort: the card is saved whatever happens here, and
    a command the dwelling did not answer shows on its page as unanswered."""
    if sender is None or before is None:
        return None
    if (before.news2_scale, before.on_oxygen) == (after.news2_scale, after.on_oxygen):
        return None
    args = wire.care_plan_args(news2_scale=after.news2_scale, on_oxygen=after.on_oxygen)
    try:
        return await sender.send(after.dwelling, wire.CARE_PLAN, args, actor)
    except (AuditFailed, BrokerUnavailable, InvalidValue, NotFound) as exc:
        log.warning("care plan of %s not sent to its edge: %s", after.dwelling, exc)
        return None
