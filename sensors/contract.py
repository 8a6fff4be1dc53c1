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

Every number has a type and a range, every string is short, printable UTF-8. Types are
strict: `v` is the integer 1, a number is never read from a bool or a string, a string
never from a number (enum fields still take their string values).

    payload        <= MAX_PAYLOAD_BYTES, strict UTF-8 without a byte-order mark, JSON
    ts             TS_FLOOR (2020-01-01) .. TS_CEILING (2100-01-01), always; and when the
                   hub passes its clock (`decode(..., now=)`) within
                   [now - MAX_AGE_S (7 days, as long as the hub remembers ids), now + MAX_SKEW_S]
                   (a status only the upper bound: its last will is as old as its
                   connection; an alarm none: `decode` never refuses an alarm for its
                   time, the hub takes one whose time is off at its own clock, flagged)
    integers       |n| <= MAX_DETAIL_INT (2**53) in details; counters <= MAX_COUNT (10**9);
                   uptime_s <= MAX_UPTIME_S (10 years); heartbeat_s in (0, 3600]
    floats         finite; |x| <= MAX_DETAIL_INT in details; battery 0..100
    text           <= MAX_TEXT (200) characters; no C0/C1 control characters (newline,
                   CR and tab included), no Unicode bidi controls, no line or paragraph
                   separators, no lone surrogates
    detail         flat key -> scalar; <= MAX_DETAIL_KEYS (32) keys matching DETAIL_KEY_PATTERN,
                   <= MAX_DETAIL_BYTES (2048) serialised
    readings       <= MAX_READINGS_PER_BATCH per batch; each reading's quantity must be in
                   QUANTITY_RANGES, its value inside that range, its time inside the
                   message's window: `split_readings` keeps the good ones and counts the
                   rest, so one bad reading never sinks the others

Rejection reasons (`ContractError.reason`, short codes the hub counts per reason):

    bad_topic          not mz/v1/{dwelling}/{channel}[/{command}]
    too_large          payload over MAX_PAYLOAD_BYTES (also refused by `encode`)
    bad_utf8           not strict UTF-8: invalid bytes, UTF-16/32 (NUL bytes), a byte-order mark
    bad_json           not JSON, or an object with a key given twice
    unknown_version    `v` is not the integer 1
    non_finite         NaN or Infinity
    schema             wrong shape or type, unknown field, an id or key of the wrong form,
                       too many readings or sensors
    out_of_range       a number outside its range
    bad_text           a string that is too long or carries a forbidden character
    detail_size        a detail (or command args) with too many keys or too many bytes
    ts_window          `ts` outside its window (a clock never set, a replay older than the
                       hub's memory of ids, a clock far ahead)
    dwelling_mismatch  the body names another dwelling than the topic
    type_mismatch      a command whose name differs from its topic's

Per reading, from `split_readings` (the batch itself is accepted):

    reading_unknown_quantity   a quantity not in QUANTITY_RANGES
    reading_range              a value outside its quantity's range
    reading_time               a time outside the message's window
"""

from __future__ import annotations

import codecs
import json
import math
import numbers
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from sensors.errors import ContractError

SCHEMA_VERSION: Final = 1
PREFIX: Final = "mz/v1"
MAX_PAYLOAD_BYTES: Final = 256 * 1024
# A reading encodes to ~110 bytes of JSON: 2000 stay well under MAX_PAYLOAD_BYTES.
MAX_READINGS_PER_BATCH: Final = 2000

# Message times (UNIX seconds). Nothing this system made predates 2020: an earlier `ts` is
# a clock that was never set (a Pi without RTC boots in 1970).
TS_FLOOR: Final = 1_577_836_800.0  # 2020-01-01T00:00:00Z
TS_CEILING: Final = 4_102_444_800.0  # 2100-01-01T00:00:00Z
# The hub remembers message ids for 7 days (hub.dedup, `data.dedup_days`): an older
# replay is refused rather than processed a second time.
MAX_AGE_S: Final = 7 * 86400.0
# Edge clocks are NTP-synchronised; ten minutes ahead of the hub is a broken clock.
MAX_SKEW_S: Final = 600.0

MAX_DETAIL_INT: Final = 2**53  # integers beyond this lose precision in JSON readers
MAX_COUNT: Final = 10**9  # counters: spool depth, dropped messages
MAX_UPTIME_S: Final = 10 * 365.25 * 86400.0
MAX_TEXT: Final = 200
MAX_DETAIL_KEYS: Final = 32
MAX_DETAIL_BYTES: Final = 2048
DETAIL_KEY_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"

# A pseudonymous id: lower-case letters, digits, '-' and '_'; never MQTT wildcards or '/'.
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{1,63}$"
_ID_RE: Final = re.compile(ID_PATTERN)
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DETAIL_KEY_RE: Final = re.compile(DETAIL_KEY_PATTERN)
# C0 and C1 controls (newline, CR and tab included), DEL, lone surrogates (JSON "\ud800"
# escapes), bidi controls (embeddings, overrides, isolates, marks) and the Unicode line and
# paragraph separators: nothing a reader's screen or a mail could be tricked with.
_BAD_TEXT_RE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)

# The physical range of every quantity the edge sends today (inclusive). A reading outside
# its range, or of a quantity not listed, is refused by itself (`split_readings`).
QUANTITY_RANGES: Final[dict[str, tuple[float, float]]] = {
    # BTHome sensors (sensors.codecs.bthome): room climate, binary sensors, scales
    "battery": (0.0, 100.0),  # %
    "temperature": (-60.0, 100.0),  # degC: room air, or a thermometer's body temperature
    "humidity": (0.0, 100.0),  # % relative humidity
    "illuminance": (0.0, 200_000.0),  # lux; direct sunlight is ~120 000
    "motion": (0.0, 1.0),  # binary: 0 or 1
    "opening": (0.0, 1.0),
    "door": (0.0, 1.0),
    "window": (0.0, 1.0),
    "occupancy": (0.0, 1.0),
    "weight": (0.0, 500.0),  # kg (BTHome mass; the serial gateway's scale)
    "voltage": (0.0, 400.0),  # V: a device battery's (BTHome 0x0C) or the mains' (0x4A)
    "moisture": (0.0, 100.0),  # % (BTHome 0x14/0x2F)
    "tilt": (-360.0, 360.0),  # degrees (BTHome rotation 0x3F: a window's tilt)
    "presence": (0.0, 1.0),  # binary (BTHome 0x25)
    "vibration": (0.0, 1.0),  # binary (BTHome 0x2C)
    "wet": (0.0, 1.0),  # binary moisture (BTHome 0x20): a leak or bed-wetting pad
    # Vital signs: the serial gateway (sensors.codecs.vitals_line), GATT health profiles
    # (sensors.codecs.ble_health) and edge.detectors.vitals.Quantity
    "hr": (0.0, 350.0),  # beats/min
    "spo2": (0.0, 100.0),  # %
    "sbp": (0.0, 350.0),  # mmHg
    "dbp": (0.0, 350.0),  # mmHg
    "temp": (10.0, 50.0),  # degC, body
    "rr": (0.0, 120.0),  # breaths/min
    "o2": (0.0, 1.0),  # 1 = on supplemental oxygen
    "acvpu": (0.0, 4.0),  # 0 A, 1 C, 2 V, 3 P, 4 U
    "status": (0.0, 4_294_967_295.0),  # a device's measurement-status bits (uint32)
    # The wearable (edge.fall_monitor): RMS of |a| - 1 g over each second, in g
    "activity": (0.0, 256.0),
}


_INSTANCE_RE: Final = re.compile(r"^(?P<base>[a-z][a-z0-9_]*?)_(?P<n>[2-9]|[1-9][0-9])$")


def quantity_base(quantity: str) -> tuple[str, int]:
    """`temperature_2` -> ("temperature", 2); any other name is instance 1 of itself.

    A device frame may carry a quantity more than once (two thermometers on one BTHome
    device): the first keeps the plain name, the n-th (2-99) is `{quantity}_{n}` and has
    its base's range."""
    m = _INSTANCE_RE.match(quantity)
    if m is not None and m["base"] in QUANTITY_RANGES:
        return m["base"], int(m["n"])
    return quantity, 1


def text_problem(value: str, max_length: int = MAX_TEXT) -> str | None:
    """Why `value` may not travel as text (None: it may)."""
    if len(value) > max_length:
        return f"longer than {max_length} characters"
    bad = _BAD_TEXT_RE.search(value)
    if bad is not None:
        return f"forbidden character U+{ord(bad.group()):04X} at {bad.start()}"
    return None


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("bad_text", "text {problem}", {"problem": problem})
    return value


def _detail_scalar(key: str, value: object) -> float | int | bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if getattr(getattr(value, "dtype", None), "kind", None) == "b":  # numpy's bool_
        return bool(value)
    if isinstance(value, numbers.Integral):  # int, and numpy's integers on the edge
        n = int(value)
        if abs(n) > MAX_DETAIL_INT:
            raise PydanticCustomError(
                "out_of_range", "detail {key}: integer too large", {"key": key}
            )
        return n
    if isinstance(value, numbers.Real):
        x = float(value)
        if not math.isfinite(x):
            raise PydanticCustomError("finite_number", "detail {key}: not finite", {"key": key})
        if abs(x) > MAX_DETAIL_INT:
            raise PydanticCustomError(
                "out_of_range", "detail {key}: number too large", {"key": key}
            )
        return x
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise PydanticCustomError(
                "bad_text", "detail {key}: text {problem}", {"key": key, "problem": problem}
            )
        return value
    raise PydanticCustomError(
        "detail_type", "detail {key}: not a number, bool, text or null", {"key": key}
    )


def _detail(value: object) -> dict[str, float | int | bool | str | None]:
    """Flat key -> scalar, bounded in keys and bytes, so nothing nested, identifying or
    large sneaks in."""
    if not isinstance(value, Mapping):
        raise PydanticCustomError("detail_type", "detail is not an object")
    if len(value) > MAX_DETAIL_KEYS:
        raise PydanticCustomError(
            "detail_size", "{n} keys > {limit}", {"n": len(value), "limit": MAX_DETAIL_KEYS}
        )
    out: dict[str, float | int | bool | str | None] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _DETAIL_KEY_RE.fullmatch(key):
            raise PydanticCustomError(
                "detail_key", "bad detail key '{key}'", {"key": str(key)[:70]}
            )
        out[key] = _detail_scalar(key, item)
    size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_DETAIL_BYTES:
        raise PydanticCustomError(
            "detail_size", "{n} bytes > {limit}", {"n": size, "limit": MAX_DETAIL_BYTES}
        )
    return out


def _schema_version(value: object) -> object:
    # Literal[1] alone would take True and 1.0 (they compare equal to 1).
    if type(value) is not int or value != SCHEMA_VERSION:
        raise PydanticCustomError("unknown_version", "schema version must be the integer 1")
    return value


PseudoId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ShortText = Annotated[str, AfterValidator(_text)]
DetailValue = float | int | bool | str | None
# Free-form details: flat key -> scalar (see `_detail` for the limits).
Detail = Annotated[dict[str, DetailValue], PlainValidator(_detail)]


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


# Strict everywhere (no number from a bool or a string, no string from a number), except
# that enum fields take their string values: that is how JSON and the edge spell them.
_STRICT: Final = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class _Message(BaseModel):
    model_config = _STRICT

    v: Annotated[Literal[1], BeforeValidator(_schema_version)] = SCHEMA_VERSION
    id: MessageId
    dwelling: PseudoId
    ts: float  # checked against TS_FLOOR / TS_CEILING / the hub's clock by `decode`


class Reading(BaseModel):
    """One measured value of one sensor at one moment.

    Only finite here; the range of `value` (QUANTITY_RANGES) and `t` (the message window)
    are checked per reading by `split_readings`, so one bad reading never sinks its batch.
    """

    model_config = _STRICT

    sensor: PseudoId
    quantity: Name
    t: float
    value: float


class ReadingsBatch(_Message):
    type: Literal["readings"] = "readings"
    readings: Annotated[list[Reading], Field(max_length=MAX_READINGS_PER_BATCH)]


class Event(_Message):
    """A detector's finding: fall suspected/confirmed/cancelled, inactivity, score change."""

    type: Literal["event"] = "event"
    kind: Name
    sensor: PseudoId | None = None
    detail: Detail = Field(default_factory=dict)


class AlarmMessage(_Message):
    """An alarm raised or cancelled at the edge.

    `alarm_id` names the alarm across its raise and cancel (the message `id` names
    this one message); the hub keys its alarm lifecycle on it.
    """

    type: Literal["alarm"] = "alarm"
    action: Literal["raise", "cancel"]
    alarm_id: MessageId
    kind: Annotated[AlarmKind, Field(strict=False)]
    severity: Annotated[Severity, Field(strict=False)]
    sensor: PseudoId | None = None
    detail: Detail = Field(default_factory=dict)


class SensorHealth(BaseModel):
    model_config = _STRICT

    sensor: PseudoId
    kind: Name
    state: Literal["ok", "silent", "failed", "starting"]
    last_seen: Annotated[float, Field(ge=0, le=TS_CEILING)] | None = None
    battery: Annotated[float, Field(ge=0, le=100)] | None = None


class Status(_Message):
    """Health of a dwelling; retained, and (with online=False) the MQTT last will."""

    type: Literal["status"] = "status"
    online: bool
    uptime_s: Annotated[float, Field(ge=0, le=MAX_UPTIME_S)] = 0.0
    spool_depth: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    spool_dropped: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    heartbeat_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    sensors: Annotated[list[SensorHealth], Field(max_length=256)] = Field(default_factory=list)
    agent_version: ShortText = ""
    # One id per MQTT connection, in its statuses and its last will: a will that the broker
    # publishes late for a connection already replaced must not mark the dwelling offline.
    session: MessageId | None = None


class Command(_Message):
    type: Literal["command"] = "command"
    name: Name
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


def new_id(*, ms: int | None = None) -> str:
    """A fresh unique message or alarm id: 32 hex digits, a UUID version 7 (RFC 9562
    section 5.7): the Unix time in milliseconds, then 74 random bits.

    Time first, so that ids made around the same time sort together: the hub records
    every id it has processed in an index (hub.dedup) holding a week of them, and a
    random id (version 4) lands on a random page of it, a page written per id. Measured
    with 200,000 ids recorded, 100 per commit: 32 us per id with random ids, 4.5 us with
    these (benchmarks/bench_ingest.py, docs/hub.md "Ingest in batches"). Nothing reads
    the time back out of an id; uniqueness rests on the random bits. `ms`: the time to put
    in (tests), else now."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 are kept
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (1 << 62) - 1
    return f"{value:032x}"


def is_pseudo_id(value: str) -> bool:
    # fullmatch: with re.match, '$' would also accept a trailing newline.
    return bool(_ID_RE.fullmatch(value))


def topic_for(dwelling: str, channel: Channel, command: str | None = None) -> str:
    if not is_pseudo_id(dwelling):
        raise ContractError("bad_topic", f"not a pseudonymous dwelling id: {dwelling!r}")
    if channel is Channel.CMD and (command is None or not _NAME_RE.fullmatch(command)):
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
        if len(parts) != 5 or not _NAME_RE.fullmatch(parts[4]):
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


def time_ok(t: float, now: float | None, *, max_age_s: float = MAX_AGE_S) -> bool:
    """A message or reading time: after TS_FLOOR and before TS_CEILING, and when the
    receiver's clock `now` is given, at most `max_age_s` old and MAX_SKEW_S ahead."""
    lo, hi = time_window(now, max_age_s)
    return lo <= t <= hi


def time_window(now: float | None, max_age_s: float = MAX_AGE_S) -> tuple[float, float]:
    """The times `time_ok` accepts: [lo, hi]."""
    if now is None:
        return TS_FLOOR, TS_CEILING
    return max(TS_FLOOR, now - max_age_s), min(TS_CEILING, now + MAX_SKEW_S)


def reading_problem(reading: Reading, now: float | None) -> str | None:
    """Why one reading is refused (a `reading_*` reason), or None to keep it."""
    return row_problem(reading.quantity, reading.t, reading.value, now)


_RANGES_SEEN: Final[dict[str, tuple[float, float] | None]] = {}


def _range_of(quantity: str) -> tuple[float, float] | None:
    """QUANTITY_RANGES of `quantity`'s base (`quantity_base`), remembered per name."""
    try:
        return _RANGES_SEEN[quantity]
    except KeyError:
        pass
    limits = QUANTITY_RANGES.get(quantity_base(quantity)[0])
    if len(_RANGES_SEEN) < 10_000:  # a spray of invented names is not remembered
        _RANGES_SEEN[quantity] = limits
    return limits


def row_problem(quantity: str, t: float, value: float, now: float | None) -> str | None:
    """`reading_problem` of one reading given as its fields."""
    return _row_problem(quantity, t, value, *time_window(now))


def _row_problem(quantity: str, t: float, value: float, lo: float, hi: float) -> str | None:
    limits = _range_of(quantity)
    if limits is None:
        return "reading_unknown_quantity"
    if not lo <= t <= hi:
        return "reading_time"
    if not limits[0] <= value <= limits[1]:
        return "reading_range"
    return None


def split_readings(batch: ReadingsBatch, now: float | None) -> tuple[list[Reading], dict[str, int]]:
    """The readings of `batch` to keep, and the number refused per reason
    (`reading_unknown_quantity`, `reading_range`, `reading_time`).

    A bad reading (a sensor out of its range, a device clock gone wrong, a quantity of a
    newer agent) is dropped by itself: the rest of the batch is still good data."""
    kept: list[Reading] = []
    refused: dict[str, int] = {}
    for r in batch.readings:
        problem = reading_problem(r, now)
        if problem is None:
            kept.append(r)
        else:
            refused[problem] = refused.get(problem, 0) + 1
    return kept, refused


# One reading as plain values: (sensor, quantity, t, value).
Row = tuple[str, str, float, float]


class Readings(NamedTuple):
    """A validated reading batch as plain values: what the hub's ingest works on. Reading
    batches come by the ten thousand; a model object per reading costs more than the
    rest of storing it. Made only from a valid `ReadingsBatch` (`readings_of`) or by
    `canonical_readings`, which decides as the model does (property-tested)."""

    id: str
    dwelling: str
    ts: float
    rows: tuple[Row, ...]


def readings_of(batch: ReadingsBatch) -> Readings:
    return Readings(
        batch.id,
        batch.dwelling,
        batch.ts,
        tuple((r.sensor, r.quantity, r.t, r.value) for r in batch.readings),
    )


def split_rows(rows: tuple[Row, ...], now: float | None) -> tuple[list[Row], dict[str, int]]:
    """`split_readings` of rows: the same rules (`row_problem`)."""
    kept: list[Row] = []
    refused: dict[str, int] = {}
    lo, hi = time_window(now)
    for row in rows:
        problem = _row_problem(row[1], row[2], row[3], lo, hi)
        if problem is None:
            kept.append(row)
        else:
            refused[problem] = refused.get(problem, 0) + 1
    return kept, refused


@with_config(ConfigDict(extra="forbid", allow_inf_nan=False, strict=True))
class _ReadingFields(TypedDict):
    """`Reading`'s fields and rules, validated into a dict (no model object per reading)."""

    sensor: PseudoId
    quantity: Name
    t: float
    value: float


@with_config(ConfigDict(extra="forbid", allow_inf_nan=False, strict=True))
class _BatchFields(TypedDict):
    """`ReadingsBatch`'s fields and rules (`v` and `type` required: see `_canonical`)."""

    v: Annotated[Literal[1], BeforeValidator(_schema_version)]
    id: MessageId
    dwelling: PseudoId
    ts: float
    type: Literal["readings"]
    readings: Annotated[list[_ReadingFields], Field(max_length=MAX_READINGS_PER_BATCH)]


_BATCH_FIELDS: Final = TypeAdapter(_BatchFields)


def canonical_readings(payload: bytes) -> Readings | None:
    """A reading batch as the edge encodes it, validated without the hub's clock (what
    `decode_readings` then checks against it is the window and the topic): for a process
    that decodes ahead of the hub (hub.readings_receiver). None for anything else,
    including anything `decode` would refuse: the hub then decodes it itself. The same
    rules as `_canonical_readings`, validated into dicts: a third of the cost."""
    try:
        text = _utf8(payload)
    except ContractError:
        return None
    if not _canonical(text):
        return None
    try:
        obj = _BATCH_FIELDS.validate_json(text)
    except ValidationError:
        return None
    rows = obj["readings"]
    if not _keys_once(text, len(rows)):
        return None
    return Readings(
        obj["id"],
        obj["dwelling"],
        obj["ts"],
        tuple([(r["sensor"], r["quantity"], r["t"], r["value"]) for r in rows]),
    )


def decode_readings(
    topic: Topic, payload: bytes | bytearray | str, *, now: float | None, pre: Readings | None
) -> Readings:
    """`decode` of a message on a readings topic, as `Readings`. `pre` is what
    `canonical_readings` made of the same payload elsewhere: only the checks that need
    the topic and the clock remain."""
    if pre is None:
        _parsed, msg = decode(topic, payload, now=now)
        assert isinstance(msg, ReadingsBatch)  # the readings channel's model
        return readings_of(msg)
    _check_envelope(topic, pre.dwelling, pre.ts, MAX_AGE_S, now)
    return pre


def _reject_constant(name: str) -> Any:
    raise ContractError("non_finite", f"non-finite number {name} in JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ContractError("bad_json", "an object has a key twice")
    return obj


# Made once: json.loads with arguments builds a decoder and its scanner per call.
_JSON: Final = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
)

# pydantic error types -> rejection reasons; anything else is "schema".
_REASON_BY_ERROR: Final[dict[str, str]] = {
    "finite_number": "non_finite",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "out_of_range": "out_of_range",
    "bad_text": "bad_text",
    "detail_size": "detail_size",
    "unknown_version": "unknown_version",
}


def _utf8(payload: bytes | bytearray | str) -> str:
    """The payload as text: strict UTF-8, no byte-order mark, no NUL."""
    if isinstance(payload, str):
        try:
            raw = payload.encode("utf-8")  # lone surrogates cannot be encoded
        except UnicodeEncodeError as exc:
            raise ContractError("bad_utf8", str(exc)[:200]) from exc
    else:
        raw = bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    if raw.startswith(codecs.BOM_UTF8):
        raise ContractError("bad_utf8", "UTF-8 byte-order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("bad_utf8", str(exc)[:200]) from exc
    if "\x00" in text:  # never in JSON text; UTF-16/32 without a BOM is full of them
        raise ContractError("bad_utf8", "NUL byte: not UTF-8 JSON (UTF-16 or UTF-32?)")
    return text


def decode(
    topic: str | Topic, payload: bytes | bytearray | str, *, now: float | None = None
) -> tuple[Topic, Message]:
    """Parse and validate one MQTT message against wire contract v1.

    Raises ContractError (with a countable `reason`, listed in the module docstring) on
    anything malformed, including a body whose dwelling differs from the topic's (a
    spoofing attempt or a bug). `now` is the receiver's clock: the hub passes it, so `ts`
    must lie in [now - MAX_AGE_S, now + MAX_SKEW_S]; without it (the edge reading its
    commands) only TS_FLOOR..TS_CEILING is checked. Readings are checked one by one
    afterwards, with `split_readings`. `topic` may be one `parse_topic` already made.
    """
    parsed = topic if isinstance(topic, Topic) else parse_topic(topic)
    text = _utf8(payload)
    fast = _canonical_readings(text) if parsed.channel is Channel.READINGS else None
    msg = fast if fast is not None else _validated(parsed, text)
    # A status has no age limit: the last will is made when the edge connects, so a will
    # fired after weeks online carries that old time (and a status is never de-duplicated).
    # An alarm is never refused for its time: a Pi whose clock is wrong (no RTC, booted
    # before NTP) still has a resident who needs help, and it sends the same bytes again
    # until the hub confirms them. The receiver decides what to make of the time
    # (`time_ok`; the hub takes such an alarm at its own clock and flags it).
    max_age = TS_CEILING if isinstance(msg, Status) else MAX_AGE_S
    _check_envelope(
        parsed, msg.dwelling, None if isinstance(msg, AlarmMessage) else msg.ts, max_age, now
    )
    if isinstance(msg, Command) and msg.name != parsed.command:
        raise ContractError("type_mismatch", f"command {msg.name!r} on topic {topic!r}")
    return parsed, msg


def _check_envelope(
    parsed: Topic, dwelling: str, ts: float | None, max_age: float, now: float | None
) -> None:
    """A message's time (`ts` None: not checked) and its dwelling against the topic's."""
    if ts is not None and not time_ok(ts, now, max_age_s=max_age):
        raise ContractError("ts_window", f"ts {ts!r} outside the accepted window")
    if dwelling != parsed.dwelling:
        raise ContractError(
            "dwelling_mismatch", f"body names {dwelling!r}, topic {parsed.dwelling!r}"
        )


_BATCH_KEYS: Final = 6  # v, id, dwelling, ts, type, readings
_READING_KEYS: Final = 4  # sensor, quantity, t, value


def _canonical_readings(text: str) -> ReadingsBatch | None:
    """A reading batch as the edge encodes it (compact JSON, `v` first), validated in one
    pass by pydantic's own JSON parser (half the cost of `json` plus `model_validate`);
    None for anything else, which `_validated` then checks exactly.

    That parser keeps the last of a key given twice where the contract refuses the
    message, so a batch is taken here only when it holds no JSON whitespace, `v` and
    `type` are present (they have defaults), and its keys number exactly what its fields
    are: a key given twice is one too many. Each key then ends in `":`, and nothing else
    does: no string value of a valid batch can hold a quote (ids, names and the type are
    patterns without one)."""
    if not _canonical(text):
        return None
    try:
        msg = ReadingsBatch.model_validate_json(text)
    except ValidationError:
        return None
    return msg if _keys_once(text, len(msg.readings)) else None


def _canonical(text: str) -> bool:
    """`v` first, the type given, no JSON whitespace (`_canonical_readings`)."""
    if not text.startswith('{"v":1,') or '"type":"readings"' not in text:
        return False
    return not (" " in text or "\n" in text or "\t" in text or "\r" in text)


def _keys_once(text: str, readings: int) -> bool:
    """As many keys as a batch of `readings` readings has fields: none given twice."""
    return text.count('":') == _BATCH_KEYS + _READING_KEYS * readings


def _validated(parsed: Topic, text: str) -> Message:
    """`text` parsed with the standard library (duplicate keys and non-finite constants
    refused) and validated against its channel's model, each failure its own reason."""
    try:
        obj = _JSON.decode(text)
    except ContractError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ContractError("bad_json", str(exc)[:200]) from exc
    if not isinstance(obj, dict):
        raise ContractError("schema", "payload is not a JSON object")
    version = obj.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ContractError("unknown_version", f"schema version {version!r:.40}, expected 1")
    model = _MODEL_BY_CHANNEL[parsed.channel]
    try:
        msg = model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        kind = _REASON_BY_ERROR.get(first.get("type", ""), "schema")
        raise ContractError(kind, f"{where}: {first.get('msg')}"[:200]) from exc
    return msg  # type: ignore[return-value]  # the channel's model: one of Message


RECEIPT_COMMAND: Final = "receipt"


def receipt_command(dwelling: str, message_id: str, ts: float) -> Command:
    """The hub's receipt for one alarm message it has durably processed."""
    return Command(
        id=new_id(), dwelling=dwelling, ts=ts, name=RECEIPT_COMMAND, args={"message": message_id}
    )


RESEND_COMMAND: Final = "resend"


def resend_command(dwelling: str, ts: float) -> Command:
    """The hub is back (its alarms session came up): send every alarm still waiting for a
    receipt now, not at its next resend time (what the broker held for the hub while it
    was away may have been dropped)."""
    return Command(id=new_id(), dwelling=dwelling, ts=ts, name=RESEND_COMMAND)


# The edge's GSM fallback (edge.fallback) in an alarm raise's detail. Every raise of an
# edge with a fallback carries FALLBACK_DETAIL (seconds after `ts` when the edge texts the
# mantelzorgers itself if the hub has not confirmed the alarm by then). After texting it
# sends the same alarm again (a new message id, the same alarm id and ts) with SMS_AT (its
# time of texting), SMS_TO (the hub's contact ids it reached, comma separated; no phone
# numbers) and SMS_FAILED (how many it could not reach).
FALLBACK_DETAIL: Final = "fallback_s"
SMS_AT_DETAIL: Final = "sms_at"
SMS_TO_DETAIL: Final = "sms_to"
SMS_FAILED_DETAIL: Final = "sms_failed"
