"""Wire contract v1: round trips, and every kind of garbage rejected with a countable reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.contract import (
    MAX_PAYLOAD_BYTES,
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
    subscription,
    topic_for,
)
from sensors.errors import ContractError

pseudo_ids = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{1,20}\Z")
msg_ids = st.from_regex(r"\A[A-Za-z0-9_-]{8,40}\Z")
times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
finite = st.floats(allow_nan=False, allow_infinity=False)
quantities = st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite, st.text(max_size=50)
)
details = st.dictionaries(st.text(min_size=1, max_size=20), scalars, max_size=5)

readings = st.builds(Reading, sensor=pseudo_ids, quantity=quantities, t=times, value=finite)
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
    kind=quantities,
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
    kind=quantities,
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
    uptime_s=times,
    spool_depth=st.integers(0, 10**9),
    spool_dropped=st.integers(0, 10**9),
    sensors=st.lists(healths, max_size=5),
)
commands = st.builds(
    Command, id=msg_ids, dwelling=pseudo_ids, ts=times, name=quantities, args=details
)


@settings(max_examples=200)
@given(st.one_of(batches, events, alarms, statuses, commands))
def test_every_message_survives_encode_decode(msg: object) -> None:
    topic, payload = encode(msg)  # type: ignore[arg-type]
    parsed, back = decode(topic, payload)
    assert back == msg
    assert parsed.dwelling == msg.dwelling


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
        "ts": 1_700_000_000.0,
        "type": "alarm",
        "action": "raise",
        "alarm_id": new_id(),
        "kind": "personal",
        "severity": "high",
    }
    body.update(over)
    return body


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (b"[1, 2]", "schema"),
        (json.dumps(_alarm(v=2)).encode(), "unknown_version"),
        (json.dumps(_alarm(v="1")).encode(), "unknown_version"),
        (json.dumps(_alarm(kind="meteor")).encode(), "schema"),
        (json.dumps(_alarm(extra_field=1)).encode(), "schema"),
        (json.dumps(_alarm(ts="yesterday")).encode(), "schema"),
        (json.dumps(_alarm(ts=-5)).encode(), "schema"),
        (json.dumps(_alarm(dwelling="dw-002")).encode(), "dwelling_mismatch"),
        (json.dumps(_alarm(dwelling="Jan Jansen")).encode(), "schema"),
        (json.dumps(_alarm()).replace("1700000000.0", "NaN").encode(), "non_finite"),
        (json.dumps(_alarm()).replace("1700000000.0", "Infinity").encode(), "non_finite"),
        (json.dumps(_alarm()).replace("1700000000.0", "1e999").encode(), "non_finite"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "too_large"),
    ],
)
def test_malformed_alarm_payloads_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/alarms", payload)
    assert info.value.reason == reason


def test_a_reading_with_nan_value_is_rejected() -> None:
    body = {
        "v": 1,
        "id": new_id(),
        "dwelling": "dw-001",
        "ts": 1.0,
        "readings": [{"sensor": "hr-1", "quantity": "heart_rate", "t": 1.0, "value": 1e400}],
    }
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/readings", json.dumps(body).encode())
    assert info.value.reason == "non_finite"


def test_encode_refuses_a_non_finite_value_at_the_source() -> None:
    with pytest.raises(ValueError, match="finite"):
        Reading(sensor="hr-1", quantity="heart_rate", t=1.0, value=float("nan"))


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
    cmd = Command(id=new_id(), dwelling="dw-001", ts=1.0, name="silence")
    _, payload = encode(cmd)
    with pytest.raises(ContractError) as info:
        decode("mz/v1/dw-001/cmd/test_alarm", payload)
    assert info.value.reason == "type_mismatch"


def test_oversize_message_refused_at_encode() -> None:
    big = ReadingsBatch(
        id=new_id(),
        dwelling="dw-001",
        ts=1.0,
        readings=[Reading(sensor="s" * 64, quantity="q" * 40, t=1.0, value=1.0)] * 2000,
    )
    with pytest.raises(ContractError) as info:
        encode(big)
    assert info.value.reason == "too_large"
