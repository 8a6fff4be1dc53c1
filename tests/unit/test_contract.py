"""Wire contract v1: round trips, and every kind of garbage rejected with a countable reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import contract
from sensors.contract import (
    MAX_AGE_S,
    MAX_DETAIL_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SKEW_S,
    MAX_UPTIME_S,
    QUANTITY_RANGES,
    TS_FLOOR,
    AlarmKind,
    AlarmMessage,
    Channel,
    Command,
    Event,
    Reading,
    ReadingsBatch,
    SensorHealth,
    Severity,
    Status,
    decode,
    encode,
    new_id,
    parse_topic,
    split_readings,
    subscription,
    time_ok,
    topic_for,
)
from sensors.errors import ContractError

NOW = 1_780_000_000.0  # the hub's clock in these tests (2026-05-28)
pseudo_ids = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{1,20}\Z")
msg_ids = st.from_regex(r"\A[A-Za-z0-9_-]{8,40}\Z")
times = st.floats(min_value=NOW - MAX_AGE_S, max_value=NOW + MAX_SKEW_S)
finite = st.floats(allow_nan=False, allow_infinity=False)
quantities = st.sampled_from(sorted(QUANTITY_RANGES))
names = st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z")
# Printable text: no control, surrogate, bidi or line-separator characters.
texts = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
        blacklist_characters="\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        "\u2066\u2067\u2068\u2069",
    ),
    max_size=50,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(-(2.0**53), 2.0**53, allow_nan=False),
    texts,
)
details = st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z"), scalars, max_size=8)


@st.composite
def readings_in_range(draw: st.DrawFn) -> Reading:
    q = draw(quantities)
    lo, hi = QUANTITY_RANGES[q]
    return Reading(
        sensor=draw(pseudo_ids), quantity=q, t=draw(times), value=draw(st.floats(lo, hi))
    )


readings = st.builds(Reading, sensor=pseudo_ids, quantity=names, t=finite, value=finite)
batches = st.builds(
    ReadingsBatch,
    id=msg_ids,
    dwelling=pseudo_ids,
    ts=times,
    readings=st.lists(readings, max_size=20),
)
events = st.builds(
    Event,
    id=msg_ids,
    dwelling=pseudo_ids,
    ts=times,
    kind=names,
    sensor=st.none() | pseudo_ids,
    detail=details,
)
alarms = st.builds(
    AlarmMessage,
    id=msg_ids,
    dwelling=pseudo_ids,
    ts=times,
    action=st.sampled_from(["raise", "cancel"]),
    alarm_id=msg_ids,
    kind=st.sampled_from(AlarmKind),
    severity=st.sampled_from(Severity),
    sensor=st.none() | pseudo_ids,
    detail=details,
)
healths = st.builds(
    SensorHealth,
    sensor=pseudo_ids,
    kind=names,
    state=st.sampled_from(["ok", "silent", "failed", "starting"]),
    last_seen=st.none() | times,
    battery=st.none() | st.floats(0, 100),
)
statuses = st.builds(
    Status,
    id=msg_ids,
    dwelling=pseudo_ids,
    ts=times,
    online=st.booleans(),
    uptime_s=st.floats(0, MAX_UPTIME_S),
    spool_depth=st.integers(0, 10**9),
    spool_dropped=st.integers(0, 10**9),
    sensors=st.lists(healths, max_size=5),
    agent_version=texts,
)
commands = st.builds(Command, id=msg_ids, dwelling=pseudo_ids, ts=times, name=names, args=details)


@settings(max_examples=200)
@given(st.one_of(batches, events, alarms, statuses, commands))
def test_every_message_survives_encode_decode(msg: object) -> None:
    topic, payload = encode(msg)  # type: ignore[arg-type]
    parsed, back = decode(topic, payload, now=NOW)
    assert back == msg
    assert parsed.dwelling == msg.dwelling
    assert decode(topic, payload) == (parsed, back)  # the edge decodes without a clock


@settings(max_examples=100)
@given(st.lists(readings_in_range(), max_size=30))
def test_readings_in_range_and_window_are_all_kept(rs: list[Reading]) -> None:
    batch = ReadingsBatch(id=new_id(), dwelling="dw-001", ts=NOW, readings=rs)
    _, back = decode(*encode(batch), now=NOW)
    assert isinstance(back, ReadingsBatch)
    assert split_readings(back, NOW) == (rs, {})


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_anything_but_contract_error(data: bytes) -> None:
    with pytest.raises(ContractError):
        decode("mz/v1/dw-001/alarms", data)


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | finite | st.text(max_size=10),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    )
)
def test_random_json_is_rejected_not_crashed(obj: object) -> None:
    with pytest.raises(ContractError):
        decode("mz/v1/dw-001/events", json.dumps(obj).encode())


def _alarm(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1,
        "id": new_id(),
        "dwelling": "dw-001",
        "ts": NOW - 5.0,
        "type": "alarm",
        "action": "raise",
        "alarm_id": new_id(),
        "kind": "personal",
        "severity": "high",
    }
    body.update(over)
    return body


def _event(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1,
        "id": new_id(),
        "dwelling": "dw-001",
        "ts": NOW - 5.0,
        "type": "event",
        "kind": "button",
    }
    body.update(over)
    return body


def _status(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "v": 1,
        "id": new_id(),
        "dwelling": "dw-001",
        "ts": NOW - 5.0,
        "type": "status",
        "online": True,
    }
    body.update(over)
    return body


def _json(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


FIVE_THOUSAND_KEYS = {f"k{i}": i for i in range(5000)}
BIG_INT = int("9" * 400)

# (topic channel, payload, reason): every kind of garbage the probe sent, and its relatives.
GARBAGE: list[tuple[str, bytes, str]] = [
    ("alarms", b"{not json", "bad_json"),
    ("alarms", b"[1, 2]", "schema"),
    ("alarms", b'{"v": 1, "v": 1}', "bad_json"),  # a key given twice
    ("alarms", b" " * (MAX_PAYLOAD_BYTES + 1), "too_large"),
    # Version: the integer 1 and nothing that compares equal to it.
    ("alarms", _json(_alarm(v=2)), "unknown_version"),
    ("alarms", _json(_alarm(v="1")), "unknown_version"),
    ("alarms", _json(_alarm(v=True)), "unknown_version"),
    ("alarms", _json(_alarm(v=1.0)), "unknown_version"),
    # Numbers are never read from strings or booleans, strings never from numbers.
    ("alarms", _json(_alarm(ts="1780000000")), "schema"),
    ("alarms", _json(_alarm(ts="yesterday")), "schema"),
    ("alarms", _json(_alarm(ts=True)), "schema"),
    ("alarms", _json(_alarm(alarm_id=12345678)), "schema"),
    ("status", _json(_status(online=1)), "schema"),
    ("status", _json(_status(agent_version=1.0)), "schema"),
    ("status", _json(_status(spool_depth="3")), "schema"),
    ("status", _json(_status(spool_depth=2.0)), "schema"),
    ("alarms", _json(_alarm(kind="meteor")), "schema"),
    ("alarms", _json(_alarm(extra_field=1)), "schema"),
    ("alarms", _json(_alarm(dwelling="Jan Jansen")), "schema"),
    ("alarms", _json(_alarm(dwelling="dw-002")), "dwelling_mismatch"),
    # Times: a clock never set, a clock in the far future.
    ("events", _json(_event(ts=0)), "ts_window"),
    ("events", _json(_event(ts=-5)), "ts_window"),
    ("events", _json(_event(ts=TS_FLOOR - 1)), "ts_window"),
    ("events", _json(_event(ts=1e18)), "ts_window"),
    ("alarms", _json(_alarm()).replace(str(NOW - 5.0).encode(), b"NaN"), "non_finite"),
    ("alarms", _json(_alarm()).replace(str(NOW - 5.0).encode(), b"Infinity"), "non_finite"),
    ("alarms", _json(_alarm()).replace(str(NOW - 5.0).encode(), b"1e999"), "non_finite"),
    # Bounded numbers.
    ("status", _json(_status(spool_depth=10**10)), "out_of_range"),
    ("status", _json(_status(spool_dropped=-1)), "out_of_range"),
    ("status", _json(_status(uptime_s=1e12)), "out_of_range"),
    ("status", _json(_status(heartbeat_s=0)), "out_of_range"),
    (
        "status",
        _json(_status(sensors=[{"sensor": "s-1", "kind": "x", "state": "ok", "battery": 1e6}])),
        "out_of_range",
    ),
    ("alarms", _json(_alarm(detail={"for_s": BIG_INT})), "out_of_range"),
    ("alarms", _json(_alarm(detail={"n": 2**53 + 1})), "out_of_range"),
    ("alarms", _json(_alarm(detail={"x": -1e300})), "out_of_range"),
    # Details: few keys of a plain form, few bytes.
    ("alarms", _json(_alarm(detail=FIVE_THOUSAND_KEYS)), "detail_size"),
    ("alarms", _json(_alarm(detail={f"k{i}": i for i in range(33)})), "detail_size"),
    ("alarms", _json(_alarm(detail={f"t{i}": "x" * 190 for i in range(11)})), "detail_size"),
    ("alarms", _json(_alarm(detail={"Bad Key": 1})), "schema"),
    ("alarms", _json(_alarm(detail={"k": "x" * 201})), "bad_text"),
    ("alarms", _json(_alarm(detail={"k": [1, 2]})), "schema"),
    ("alarms", _json(_alarm(detail={"k": {"nested": 1}})), "schema"),
    ("alarms", _json(_alarm(detail=[1])), "schema"),
    # Text: printable UTF-8 only.
    (
        "alarms",
        _json(_alarm(detail={"note": "ok\nBevestig via https://evil.example/ack"})),
        "bad_text",
    ),
    ("alarms", _json(_alarm(detail={"note": "a\rb"})), "bad_text"),
    ("alarms", _json(_alarm(detail={"note": "a\tb"})), "bad_text"),
    ("alarms", _json(_alarm(detail={"note": "a\x85b"})), "bad_text"),  # C1: NEXT LINE
    ("alarms", _json(_alarm(detail={"note": "a\u2028b"})), "bad_text"),  # LINE SEPARATOR
    ("alarms", _json(_alarm(detail={"note": "gevaar \u202eevil"})), "bad_text"),  # bidi override
    ("alarms", _json(_alarm(detail={"note": "x\u2067y"})), "bad_text"),  # bidi isolate
    ("alarms", _json(_alarm(detail={"note": "\ud800"})), "bad_text"),  # lone surrogate
    ("status", _json(_status(agent_version="0.1\n")), "bad_text"),
    # Encoding: UTF-8 only.
    ("alarms", b"\xff\xfe", "bad_utf8"),
    ("alarms", b'{"v": 1, "x": "\xc3\x28"}', "bad_utf8"),  # an invalid sequence
    ("alarms", json.dumps(_alarm()).encode("utf-16"), "bad_utf8"),  # with its BOM
    ("alarms", json.dumps(_alarm()).encode("utf-16-le"), "bad_utf8"),  # without
    ("alarms", json.dumps(_alarm()).encode("utf-32"), "bad_utf8"),
    ("alarms", b"\xef\xbb\xbf" + _json(_alarm()), "bad_utf8"),  # UTF-8 with a byte-order mark
]


@pytest.mark.parametrize(
    ("channel", "payload", "reason"),
    GARBAGE,
    ids=[f"{i}-{reason}" for i, (_, _, reason) in enumerate(GARBAGE)],
)
def test_garbage_is_rejected_with_its_reason(channel: str, payload: bytes, reason: str) -> None:
    for now in (NOW, None):  # the hub (with its clock) and the edge (without) alike
        with pytest.raises(ContractError) as info:
            decode(f"mz/v1/dw-001/{channel}", payload, now=now)
        assert info.value.reason == reason, info.value


def test_the_window_around_the_hubs_clock() -> None:
    def reason(ts: float, now: float | None = NOW) -> str | None:
        try:
            decode("mz/v1/dw-001/events", _json(_event(ts=ts)), now=now)
        except ContractError as exc:
            return exc.reason
        return None

    assert reason(NOW) is None
    assert reason(NOW - MAX_AGE_S) is None and reason(NOW + MAX_SKEW_S) is None
    # Older than the hub remembers message ids: refused, not processed a second time.
    assert reason(NOW - MAX_AGE_S - 1) == "ts_window"
    assert reason(NOW + MAX_SKEW_S + 1) == "ts_window"  # a clock ten minutes ahead
    # The edge has no reference clock for its commands: only the absolute bounds.
    assert reason(NOW - 30 * 86400, now=None) is None
    assert reason(0, now=None) == "ts_window"


@pytest.mark.parametrize("ts", [0, 1.0, TS_FLOOR - 1, NOW - 30 * 86400, NOW + 3600, 1e18])
def test_an_alarm_is_never_refused_for_its_time(ts: float) -> None:
    """A Pi whose clock is wrong still has a resident who needs help: the contract passes
    the alarm on with its time as sent, and says the time is off (`time_ok`)."""
    _, msg = decode("mz/v1/dw-001/alarms", _json(_alarm(ts=ts)), now=NOW)
    assert isinstance(msg, AlarmMessage) and msg.ts == ts
    assert not time_ok(msg.ts, NOW)


def test_a_last_will_made_weeks_ago_still_counts() -> None:
    """The edge makes its will when it connects; after weeks online it fires with that
    old time. A status has no age limit (it is never de-duplicated); the future bound stays."""
    will = Status(id=new_id(), dwelling="dw-001", ts=NOW - 60 * 86400, online=False)
    _, msg = decode(*encode(will), now=NOW)
    assert isinstance(msg, Status) and not msg.online
    ahead = will.model_copy(update={"ts": NOW + MAX_SKEW_S + 1})
    with pytest.raises(ContractError) as info:
        decode(*encode(ahead), now=NOW)
    assert info.value.reason == "ts_window"


def test_a_string_payload_with_a_lone_surrogate_is_not_utf8() -> None:
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/alarms", json.dumps(_alarm(), ensure_ascii=False) + "\udc80")
    assert info.value.reason == "bad_utf8"
    # A proper pair escaped in JSON is a character like any other.
    _, msg = decode("mz/v1/dw-001/alarms", _json(_alarm(detail={"e": "\U0001f600"})), now=NOW)
    assert isinstance(msg, AlarmMessage) and msg.detail == {"e": "\U0001f600"}


def test_detail_limits_leave_room_for_what_the_edge_sends() -> None:
    detail: dict[str, object] = {f"k{i}": "x" * 50 for i in range(32)}
    _, msg = decode("mz/v1/dw-001/alarms", _json(_alarm(detail=detail)), now=NOW)
    assert isinstance(msg, AlarmMessage) and len(msg.detail) == 32
    assert len(json.dumps(msg.detail, separators=(",", ":"))) <= MAX_DETAIL_BYTES


def _batch(*readings: dict[str, object], ts: float = NOW - 1.0) -> bytes:
    body = {"v": 1, "id": new_id(), "dwelling": "dw-001", "ts": ts, "readings": list(readings)}
    return json.dumps(body).encode()


def _reading(
    quantity: str = "temperature", t: float = NOW - 1.0, value: float = 21.5
) -> dict[str, object]:
    return {"sensor": "room-1", "quantity": quantity, "t": t, "value": value}


def test_bad_readings_are_refused_one_by_one_and_the_rest_is_kept() -> None:
    payload = _batch(
        _reading(),
        _reading(t=1e300),  # the probe's reading at t = 1e300 ...
        _reading(value=1e308),  # ... and value 1e308
        _reading("hr", value=72.0),
        _reading("heart_rate", value=72.0),  # not a quantity the edge sends
        _reading("spo2", value=101.0),
        _reading("battery", t=0.0, value=80.0),
        _reading("hr", t=NOW - MAX_AGE_S - 60, value=70.0),  # older than the window
        _reading("hr", t=NOW + MAX_SKEW_S + 60, value=70.0),  # ahead of it
    )
    _, batch = decode("mz/v1/dw-001/readings", payload, now=NOW)
    assert isinstance(batch, ReadingsBatch) and len(batch.readings) == 9
    kept, refused = split_readings(batch, NOW)
    assert [(r.quantity, r.value) for r in kept] == [("temperature", 21.5), ("hr", 72.0)]
    assert refused == {"reading_time": 4, "reading_range": 2, "reading_unknown_quantity": 1}
    # Without a clock, only the absolute bounds of time apply.
    kept, refused = split_readings(batch, None)
    assert len(kept) == 4 and refused["reading_time"] == 2


def test_structural_problems_in_readings_still_reject_the_batch() -> None:
    cases = [
        (_batch(_reading(), {**_reading(), "value": "21.5"}), "schema"),
        (_batch({**_reading(), "value": True}), "schema"),
        (_batch({**_reading(), "t": "now"}), "schema"),
        (_batch({**_reading(), "extra": 1}), "schema"),
        (_batch(*[_reading()] * 2001), "schema"),  # too many readings
        (_batch(_reading()).replace(b"21.5", b"NaN"), "non_finite"),
        (_batch(_reading(), ts=1e18), "ts_window"),
    ]
    for payload, reason in cases:
        with pytest.raises(ContractError) as info:
            decode("mz/v1/dw-001/readings", payload, now=NOW)
        assert info.value.reason == reason


def test_every_quantity_has_a_sensible_range() -> None:
    # The quantities the edge's codecs and detectors send today (docs/edge.md).
    sent = {
        *("battery", "temperature", "humidity", "illuminance", "motion", "weight"),
        *("opening", "door", "window", "occupancy"),  # BTHome
        *("hr", "spo2", "sbp", "dbp", "temp", "rr", "o2", "acvpu", "status"),  # vital signs
        "activity",  # the wearable's activity summary
    }
    assert sent <= set(QUANTITY_RANGES)
    assert all(lo < hi for lo, hi in QUANTITY_RANGES.values())


def test_models_built_in_python_are_strict_but_take_enum_values_as_strings() -> None:
    alarm = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=NOW,
        action="raise",
        alarm_id=new_id(),
        kind="fall",
        severity="high",
    )
    assert alarm.kind is AlarmKind.FALL and alarm.severity is Severity.HIGH
    assert Status(id=new_id(), dwelling="dw-001", ts=int(NOW), online=True).ts == NOW
    for bad in (
        {"ts": "1780000000"},
        {"ts": True},
        {"v": True},
        {"detail": {"n": BIG_INT}},
        {"detail": {"note": "a\nb"}},
        {"kind": "meteor"},
    ):
        with pytest.raises(ValueError):
            AlarmMessage.model_validate({**_alarm(), **bad})
    with pytest.raises(ValueError):
        Reading(sensor="hr-1", quantity="hr", t=NOW, value="72")


def test_numpy_scalars_from_the_detectors_travel_as_plain_json() -> None:
    import numpy as np

    detail = {"b": np.bool_(True), "i": np.int64(7), "f": np.float32(0.5), "d": np.float64(2.5)}
    event = Event(id=new_id(), dwelling="dw-001", ts=NOW, kind="x", detail=detail)
    assert event.detail == {"b": True, "i": 7, "f": 0.5, "d": 2.5}
    assert [type(v) for v in event.detail.values()] == [bool, int, float, float]
    _, back = decode(*encode(event), now=NOW)
    assert back == event


def test_a_reading_with_nan_value_is_rejected() -> None:
    body = {
        "v": 1,
        "id": new_id(),
        "dwelling": "dw-001",
        "ts": NOW,
        "readings": [{"sensor": "hr-1", "quantity": "hr", "t": NOW, "value": 1e400}],
    }
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/readings", json.dumps(body).encode())
    assert info.value.reason == "non_finite"


def test_encode_refuses_a_non_finite_value_at_the_source() -> None:
    with pytest.raises(ValueError, match="finite"):
        Reading(sensor="hr-1", quantity="hr", t=NOW, value=float("nan"))


def test_an_alarm_on_the_events_topic_is_rejected() -> None:
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/events", json.dumps(_alarm()).encode())
    assert info.value.reason == "schema"


@pytest.mark.parametrize(
    "topic",
    [
        "mz/v2/dw-001/alarms",
        "mz/v1/dw-001",
        "mz/v1/DW 1/alarms",
        "mz/v1/dw-001/alarms/x",
        "mz/v1/dw-001/gossip",
        "mz/v1/+/alarms",
        "mz/v1/dw-001/cmd",
        "mz/v1/dw-001/cmd/Bad",
    ],
)
def test_bad_topics_are_rejected(topic: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_topic(topic)
    assert info.value.reason == "bad_topic"


def test_topics_and_subscriptions() -> None:
    assert topic_for("dw-001", Channel.READINGS) == "mz/v1/dw-001/readings"
    assert topic_for("dw-001", Channel.CMD, "test_alarm") == "mz/v1/dw-001/cmd/test_alarm"
    assert subscription(Channel.ALARMS) == "mz/v1/+/alarms"
    assert subscription(Channel.CMD) == "mz/v1/+/cmd/+"
    with pytest.raises(ContractError):
        topic_for("dw/001", Channel.ALARMS)


def test_a_command_must_match_its_topic() -> None:
    cmd = Command(id=new_id(), dwelling="dw-001", ts=NOW, name="silence")
    _, payload = encode(cmd)
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/cmd/test_alarm", payload)
    assert info.value.reason == "type_mismatch"


def test_oversize_message_refused_at_encode() -> None:
    big = ReadingsBatch(
        id=new_id(),
        dwelling="dw-001",
        ts=NOW,
        readings=[Reading(sensor="s" * 64, quantity="q" * 40, t=NOW, value=1.0)] * 2000,
    )
    with pytest.raises(ContractError) as info:
        encode(big)
    assert info.value.reason == "too_large"


def test_new_ids_are_uuid7_and_sort_by_the_time_they_were_made() -> None:
    """Time first (hub.dedup's index is written near its end, not at a random page);
    unique by their random bits, also within one millisecond."""
    import uuid

    ms = 1_796_400_000_000
    same_ms = {contract.new_id(ms=ms) for _ in range(1000)}
    assert len(same_ms) == 1000
    later = contract.new_id(ms=ms + 1)
    assert all(i < later for i in same_ms)
    for i in [*same_ms, later]:
        u = uuid.UUID(hex=i)
        assert len(i) == 32 and i == u.hex
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert int(i[:12], 16) == (ms + 1 if i == later else ms)
