"""Wire contract v1 between the edge agent and the hub.

Pure: no I/O, no clock. Both sides import this module. Every message carries a schema
version (`v`), a unique id (`id`, the hub de-duplicates on it), the pseudonymous dwelling
id (`dwelling`) and the time it was made at the source (`ts`, UNIX seconds, UTC).

Topics (QoS 1 everywhere; status is retained and is also the MQTT last will):

    mz/v1/{dwelling}/readings     edge -> hub   ReadingsBatch
    mz/v1/{dwelling}/events       edge -> hub   Event
    mz/v1/{dwelling}/alarms       edge -> hub   AlarmMessage
    mz/v1/{dwelling}/status       edge -> hub   Status (retained, last will)
    mz/v1/{dwelling}/cmd/{name}   hub -> edge   Command

No names or other direct identifiers travel here: dwellings, residents and sensors are
pseudonymous ids; the hub's registry alone links them to people.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from sensors.errors import ContractError

SCHEMA_VERSION: Final = 1
PREFIX: Final = "mz/v1"
MAX_PAYLOAD_BYTES: Final = 256 * 1024
# A reading encodes to ~110 bytes of JSON: 2000 stay well under MAX_PAYLOAD_BYTES.
MAX_READINGS_PER_BATCH: Final = 2000

# A pseudonymous id: lower-case letters, digits, '-' and '_'; never MQTT wildcards or '/'.
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{1,63}$"
_ID_RE: Final = re.compile(ID_PATTERN)

PseudoId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
# Free-form details: flat key -> scalar, so nothing nested or identifying sneaks in.
Detail = dict[
    Annotated[str, StringConstraints(max_length=64)], float | int | bool | ShortText | None
]


class Channel(StrEnum):
    READINGS = "readings"
    EVENTS = "events"
    ALARMS = "alarms"
    STATUS = "status"
    CMD = "cmd"


class Severity(StrEnum):
    """How urgent an alarm is; the hub's routing decides who hears of it."""

    LOW = "low"  # technical trouble, informational
    MEDIUM = "medium"  # mantelzorger should look soon
    HIGH = "high"  # mantelzorger now, alarm centre if unacknowledged
    CRITICAL = "critical"  # alarm centre at once


class AlarmKind(StrEnum):
    PERSONAL = "personal"  # the pendant's button: the classic telecare alarm
    FALL = "fall"
    LONG_LIE = "long_lie"
    INACTIVITY = "inactivity"
    VITALS = "vitals"
    TECHNICAL = "technical"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)

    v: Literal[1] = SCHEMA_VERSION
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    dwelling: PseudoId
    ts: Annotated[float, Field(ge=0)]


class Reading(BaseModel):
    """One measured value of one sensor at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sensor: PseudoId
    quantity: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    t: Annotated[float, Field(ge=0)]
    value: float


class ReadingsBatch(_Message):
    type: Literal["readings"] = "readings"
    readings: Annotated[list[Reading], Field(max_length=MAX_READINGS_PER_BATCH)]


class Event(_Message):
    """A detector's finding: fall suspected/confirmed/cancelled, inactivity, score change."""

    type: Literal["event"] = "event"
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    sensor: PseudoId | None = None
    detail: Detail = Field(default_factory=dict)


class AlarmMessage(_Message):
    """An alarm raised or cancelled at the edge.

    `alarm_id` names the alarm across its raise and cancel (the message `id` names
    this one message); the hub keys its alarm lifecycle on it.
    """

    type: Literal["alarm"] = "alarm"
    action: Literal["raise", "cancel"]
    alarm_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    kind: AlarmKind
    severity: Severity
    sensor: PseudoId | None = None
    detail: Detail = Field(default_factory=dict)


class SensorHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sensor: PseudoId
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    state: Literal["ok", "silent", "failed", "starting"]
    last_seen: float | None = None
    battery: Annotated[float, Field(ge=0, le=100)] | None = None


class Status(_Message):
    """Health of a dwelling; retained, and (with online=False) the MQTT last will."""

    type: Literal["status"] = "status"
    online: bool
    uptime_s: Annotated[float, Field(ge=0)] = 0.0
    spool_depth: Annotated[int, Field(ge=0)] = 0
    spool_dropped: Annotated[int, Field(ge=0)] = 0
    heartbeat_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    sensors: Annotated[list[SensorHealth], Field(max_length=256)] = Field(default_factory=list)
    agent_version: ShortText = ""
    # One id per MQTT connection, in its statuses and its last will: a will that the broker
    # publishes late for a connection already replaced must not mark the dwelling offline.
    session: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = None


class Command(_Message):
    type: Literal["command"] = "command"
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    args: Detail = Field(default_factory=dict)


Message = ReadingsBatch | Event | AlarmMessage | Status | Command

_MODEL_BY_CHANNEL: Final[dict[Channel, type[_Message]]] = {
    Channel.READINGS: ReadingsBatch,
    Channel.EVENTS: Event,
    Channel.ALARMS: AlarmMessage,
    Channel.STATUS: Status,
    Channel.CMD: Command,
}
_CHANNEL_BY_MODEL: Final[dict[type[_Message], Channel]] = {
    model: ch for ch, model in _MODEL_BY_CHANNEL.items()
}


@dataclass(frozen=True, slots=True)
class Topic:
    dwelling: str
    channel: Channel
    command: str | None = None

    def __str__(self) -> str:
        base = f"{PREFIX}/{self.dwelling}/{self.channel.value}"
        return f"{base}/{self.command}" if self.channel is Channel.CMD else base


def new_id() -> str:
    """A fresh unique message or alarm id (32 hex digits)."""
    return uuid.uuid4().hex


def is_pseudo_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def topic_for(dwelling: str, channel: Channel, command: str | None = None) -> str:
    if not is_pseudo_id(dwelling):
        raise ContractError("bad_topic", f"not a pseudonymous dwelling id: {dwelling!r}")
    if channel is Channel.CMD and (
        command is None or not re.match(r"^[a-z][a-z0-9_]{0,39}$", command)
    ):
        raise ContractError("bad_topic", f"bad command name: {command!r}")
    return str(Topic(dwelling, channel, command if channel is Channel.CMD else None))


def subscription(channel: Channel) -> str:
    """The topic filter that matches `channel` for every dwelling."""
    return f"{PREFIX}/+/{channel.value}" + ("/+" if channel is Channel.CMD else "")


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise ContractError("bad_topic", f"not a {PREFIX} topic: {topic[:120]!r}")
    dwelling, chan = parts[2], parts[3]
    if not is_pseudo_id(dwelling):
        raise ContractError("bad_topic", f"bad dwelling id in topic: {dwelling[:70]!r}")
    try:
        channel = Channel(chan)
    except ValueError as exc:
        raise ContractError("bad_topic", f"unknown channel: {chan[:40]!r}") from exc
    if channel is Channel.CMD:
        if len(parts) != 5 or not re.match(r"^[a-z][a-z0-9_]{0,39}$", parts[4]):
            raise ContractError("bad_topic", f"bad command topic: {topic[:120]!r}")
        return Topic(dwelling, channel, parts[4])
    if len(parts) != 4:
        raise ContractError("bad_topic", f"unexpected topic depth: {topic[:120]!r}")
    return Topic(dwelling, channel)


def encode(msg: Message) -> tuple[str, bytes]:
    """Topic and UTF-8 JSON payload for `msg`; raises ContractError if it is too large."""
    channel = _CHANNEL_BY_MODEL[type(msg)]
    command = msg.name if isinstance(msg, Command) else None
    payload = msg.model_dump_json(exclude_none=False).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    return topic_for(msg.dwelling, channel, command), payload


def _reject_constant(name: str) -> Any:
    raise ContractError("non_finite", f"non-finite number {name} in JSON")


def decode(topic: str, payload: bytes | bytearray | str) -> tuple[Topic, Message]:
    """Parse and validate one MQTT message against wire contract v1.

    Raises ContractError (with a countable `reason`) on anything malformed, including a
    body whose dwelling differs from the topic's (a spoofing attempt or a bug).
    """
    parsed = parse_topic(topic)
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        obj = json.loads(raw, parse_constant=_reject_constant)
    except ContractError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ContractError("bad_json", str(exc)[:200]) from exc
    if not isinstance(obj, dict):
        raise ContractError("schema", "payload is not a JSON object")
    version = obj.get("v")
    if version != SCHEMA_VERSION:
        raise ContractError("unknown_version", f"schema version {version!r}, expected 1")
    model = _MODEL_BY_CHANNEL[parsed.channel]
    try:
        msg = model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        kind = "non_finite" if first.get("type") == "finite_number" else "schema"
        raise ContractError(kind, f"{where}: {first.get('msg')}"[:200]) from exc
    if msg.dwelling != parsed.dwelling:
        raise ContractError(
            "dwelling_mismatch", f"body names {msg.dwelling!r}, topic {parsed.dwelling!r}"
        )
    if isinstance(msg, Command) and msg.name != parsed.command:
        raise ContractError("type_mismatch", f"command {msg.name!r} on topic {topic!r}")
    return parsed, msg  # type: ignore[return-value]


RECEIPT_COMMAND: Final = "receipt"


def receipt_command(dwelling: str, message_id: str, ts: float) -> Command:
    """The hub's receipt for one alarm message it has durably processed."""
    return Command(
        id=new_id(), dwelling=dwelling, ts=ts, name=RECEIPT_COMMAND, args={"message": message_id}
    )
