"""sensors.contract: reading batches as the edge encodes them take faster validation
paths (pydantic's JSON parser, into a model or, for the hub's receiver process, into plain
values); they must decide every payload exactly as the standard path
does, whatever is done to the bytes (a key given twice, whitespace, a field left out)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sensors import contract
from sensors.contract import ReadingsBatch, decode, parse_topic
from sensors.errors import ContractError
from tests.unit.test_contract import NOW, readings_in_range

TOPIC = "mz/v1/dw-001/readings"


def exact(payload: str) -> object:
    """The standard path's verdict: the message, or the reason it is refused."""
    try:
        msg = contract._validated(parse_topic(TOPIC), contract._utf8(payload))
    except ContractError as exc:
        return exc.reason
    if not contract.time_ok(msg.ts, NOW) or msg.dwelling != "dw-001":
        return "window_or_dwelling"
    return msg


def reason(exc: ContractError) -> str:
    """A refusal's reason, the window and the dwelling as one (`exact` checks them so)."""
    return "window_or_dwelling" if exc.reason in {"ts_window", "dwelling_mismatch"} else exc.reason


def verdict(payload: str) -> object:
    try:
        return decode(TOPIC, payload.encode(), now=NOW)[1]
    except ContractError as exc:
        return reason(exc)


def lean(payload: str) -> object:
    """The hub's verdict when a receiver process decoded ahead (`canonical_readings`,
    hub.readings_receiver): the batch as `Readings`, or the reason it is refused."""
    raw = payload.encode()
    try:
        return contract.decode_readings(
            parse_topic(TOPIC), raw, now=NOW, pre=contract.canonical_readings(raw)
        )
    except ContractError as exc:
        return reason(exc)


def as_lean(decided: object) -> object:
    return contract.readings_of(decided) if isinstance(decided, ReadingsBatch) else decided


batches_here = st.builds(
    ReadingsBatch,
    id=st.from_regex(r"\A[A-Za-z0-9_-]{8,40}\Z"),
    dwelling=st.just("dw-001"),
    ts=st.floats(NOW - 3600, NOW),
    readings=st.lists(readings_in_range(), max_size=12),
)


@given(batches_here)
def test_what_the_edge_sends_takes_the_fast_path_and_decodes_the_same(msg: ReadingsBatch) -> None:
    _topic, payload = contract.encode(msg)
    text = payload.decode()
    assert contract._canonical_readings(text) == msg
    assert verdict(text) == exact(text) == msg
    assert contract.canonical_readings(payload) == contract.readings_of(msg)
    assert lean(text) == contract.readings_of(msg)


def pairs_of(msg: ReadingsBatch) -> list[tuple[str, object]]:
    return list(json.loads(contract.encode(msg)[1]).items())


def render(pairs: list[tuple[str, object]], sep: str = ":") -> str:
    """JSON text of an object given as key/value pairs (a key may come twice)."""
    return "{" + ",".join(f"{json.dumps(k)}{sep}{json.dumps(v)}" for k, v in pairs) + "}"


@given(
    batches_here,
    st.sampled_from(["v", "id", "dwelling", "ts", "type", "readings"]),
    st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.just([])),
    st.booleans(),
)
def test_a_key_given_twice_is_refused_on_both_paths(
    msg: ReadingsBatch, key: str, value: object, first: bool
) -> None:
    pairs = pairs_of(msg)
    extra = (key, value)
    text = render([extra, *pairs] if first else [*pairs, extra])
    assert verdict(text) == exact(text) == lean(text) == "bad_json"


@given(
    batches_here.filter(lambda m: len(m.readings) > 0),
    st.sampled_from(["sensor", "quantity", "t", "value"]),
    st.floats(0, 100),
)
def test_a_key_twice_inside_a_reading_is_refused_on_both_paths(
    msg: ReadingsBatch, key: str, value: float
) -> None:
    pairs = dict(pairs_of(msg))
    readings = pairs.pop("readings")
    assert isinstance(readings, list)
    first = render([*readings[0].items(), (key, value)])
    rest = ",".join(render(list(r.items())) for r in readings[1:])
    body = render(list(pairs.items()))[:-1]
    text = body + ',"readings":[' + first + ("," + rest if rest else "") + "]}"
    assert verdict(text) == exact(text) == lean(text) == "bad_json"


@given(
    batches_here,
    st.sampled_from([" :", ": ", "\n:", "\t:", "\r\n: "]),
    st.sets(st.sampled_from(["v", "type"]), max_size=2),
)
def test_whitespace_and_missing_fields_are_decided_alike(
    msg: ReadingsBatch, sep: str, dropped: set[str]
) -> None:
    pairs = [(k, v) for k, v in pairs_of(msg) if k not in dropped]
    text = render(pairs, sep)
    assert verdict(text) == exact(text)
    assert lean(text) == as_lean(exact(text))
    if "v" in dropped:
        assert verdict(text) == "unknown_version"


def test_a_hidden_duplicate_with_v_left_out_is_still_refused() -> None:
    """`v` has a default: leaving it out while giving `ts` twice keeps the key count right,
    which is why the fast path also wants the payload to start with v."""
    head = '{"id":"abcdefgh12","dwelling":"dw-001","ts":1,'
    text = head + f'"ts":{NOW!r},"type":"readings","readings":[]}}'
    assert verdict(text) == exact(text) == lean(text) == "bad_json"
