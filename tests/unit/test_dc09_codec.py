"""The SIA DC-09 codec: known frames byte for byte, round trips, and what it refuses.

pysiaalarm (a real DC-09 receiver) is the independent reader here: what we encode, it must
parse to the same event; what it answers, we must parse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent as PeerEvent

from alerts.dc09.codec import (
    ParsedFrame,
    Response,
    SiaEvent,
    crc16_arc,
    encode_ack,
    encode_duh,
    encode_event,
    encode_nak,
    encode_null,
    parse_event,
    parse_header,
    parse_response,
)
from alerts.dc09.errors import Dc09FrameError

AT = datetime(2026, 11, 22, 13, 35, 48, tzinfo=UTC)
KEY = b"0123456789ABCDEF"  # the key string's ASCII bytes, as pysiaalarm takes it
# The accepted frame of ../shared/ENVIRONMENT.md, whole: LF, CRC, length, body, CR.
PLAIN: dict[str, Any] = {"prefix": "0", "at": AT, "key": None}
CRYPT: dict[str, Any] = {"prefix": "0", "at": AT, "key": KEY}
ENV_FRAME = b'\nF910003D"ADM-CID"0002R0L0#1234[#1234|1101 01 001]_13:35:48,11-22-2026\r'


def peer_parse(frame: bytes, key: str | None = None, account: str = "1234") -> PeerEvent:
    accounts = {account: SIAAccount(account, key, allowed_timeband=None)}
    return PeerEvent.from_line(frame.decode("ascii").strip(), accounts)


# -- CRC ----------------------------------------------------------------------------------


def test_crc16_arc_known_vectors() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # the CRC catalogue's check value
    assert crc16_arc(b"") == 0
    assert crc16_arc(b"A") == 0x30C0
    assert crc16_arc(ENV_FRAME[9:-1]) == 0xF910


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=200))
def test_crc16_arc_matches_pysiaalarm(text: str) -> None:
    assert f"{crc16_arc(text.encode('ascii')):04X}" == PeerEvent._crc_calc(text)


# -- known frames -------------------------------------------------------------------------


def test_environment_frame_byte_for_byte() -> None:
    event = SiaEvent("1234", code=101, qualifier=1, zone=1, partition=1)
    frame = encode_event(event, seq=2, receiver="0", prefix="0", at=AT, key=None)
    assert frame == ENV_FRAME


def test_environment_frame_parses_whole() -> None:
    assert parse_event(ENV_FRAME, keys={}) == ParsedFrame(
        token="ADM-CID",
        encrypted=False,
        seq=2,
        receiver="0",
        prefix="0",
        account="1234",
        event=SiaEvent("1234", 101, 1, 1, 1),
        timestamp=AT,
    )


def test_restore_and_status_qualifiers_and_fields() -> None:
    event = SiaEvent("A1B2C3", code=654, qualifier=3, zone=17, partition=2)
    frame = encode_event(event, seq=9999, receiver="12", prefix="3F", at=AT, key=None)
    assert frame.endswith(b'"ADM-CID"9999R12L3F#A1B2C3[#A1B2C3|3654 02 017]_13:35:48,11-22-2026\r')
    peer = peer_parse(frame, account="A1B2C3")
    assert (peer.event_qualifier, peer.event_type, peer.partition, peer.ri) == (
        "3",
        "654",
        "02",
        "017",
    )


def test_timestamp_is_utc_whatever_the_datetime_zone() -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 1, 30, 0, tzinfo=cest)  # 23:30 UTC the day before
    frame = encode_null(seq=1, receiver="0", prefix="0", account="0000", at=local, key=None)
    assert frame.endswith(b'"NULL"0001R0L0#0000[]_23:30:00,05-31-2026\r')


def test_receiver_may_be_left_out() -> None:
    frame = encode_event(SiaEvent("1234", 100, 1, 5), seq=7, receiver=None, **PLAIN)
    assert b'"ADM-CID"0007L0#1234[' in frame
    assert parse_event(frame, keys={}).receiver is None


def test_encrypted_frame_is_what_the_spec_and_pysiaalarm_read() -> None:
    event = SiaEvent("1234", code=100, qualifier=1, zone=3)
    frame = encode_event(event, seq=5, receiver="0", prefix="0", at=AT, key=KEY)
    head = parse_header(frame)
    assert frame.startswith(b"\n") and frame.endswith(b"\r")
    assert (head.token, head.encrypted, head.seq, head.account) == ("ADM-CID", True, 5, "1234")
    assert b'"*ADM-CID"0005R0L0#1234[' in frame
    assert b"1100" not in frame  # nothing of the event in clear

    # Decrypt independently: AES-CBC, zero IV, "0" pad up to whole blocks, then "|".
    raw = bytes.fromhex(head.data)
    dec = Cipher(algorithms.AES(KEY), modes.CBC(bytes(16))).decryptor()
    plain = (dec.update(raw) + dec.finalize()).decode("ascii")
    assert len(plain) % 16 == 0
    assert plain.lstrip("0") == "|#1234|1100 01 003]_13:35:48,11-22-2026"

    peer = peer_parse(frame, key=KEY.decode())
    assert peer.valid_message and peer.encrypted
    assert (peer.code, peer.ri, peer.account) == ("MA", "003", "1234")
    assert peer.timestamp == AT


def test_random_pad_changes_the_ciphertext_not_the_event() -> None:
    event = SiaEvent("1234", 101, 1, 1)
    a = encode_event(event, seq=1, receiver="0", prefix="0", at=AT, key=KEY, pad="a" * 16)
    b = encode_event(event, seq=1, receiver="0", prefix="0", at=AT, key=KEY, pad="b" * 16)
    assert a != b
    assert parse_event(a, keys={"1234": KEY}) == parse_event(b, keys={"1234": KEY})


def test_encrypted_null() -> None:
    frame = encode_null(seq=12, receiver="0", prefix="0", account="0000", at=AT, key=KEY)
    assert b'"*NULL"0012R0L0#0000[' in frame
    parsed = parse_event(frame, keys={"0000": KEY})
    assert (parsed.token, parsed.event, parsed.timestamp) == ("NULL", None, AT)
    peer = peer_parse(frame, key=KEY.decode(), account="0000")
    assert peer.valid_message and peer.code == "RP"  # pysiaalarm's name for a link test


# -- responses ----------------------------------------------------------------------------


def test_pysiaalarm_plain_ack_parses() -> None:
    ack = peer_parse(ENV_FRAME).create_response()
    assert ack == b'\nDFE30014"ACK"0002R0L0#1234[]\r'
    assert parse_response(ack, key=None) == Response("ACK", 2, "0", "0", "1234", None)


def test_pysiaalarm_encrypted_ack_parses() -> None:
    frame = encode_event(SiaEvent("1234", 101, 1, 1), seq=3, receiver="0", **CRYPT)
    ack = peer_parse(frame, key=KEY.decode()).create_response()  # stamped with the real clock
    assert ack.startswith(b"\n") and b'"*ACK"0003R0L0#1234[' in ack
    resp = parse_response(ack, key=KEY)
    assert (resp.kind, resp.seq, resp.account) == ("ACK", 3, "1234")
    assert resp.at is not None and resp.at.tzinfo is UTC


def test_pysiaalarm_nak_parses() -> None:
    # pysiaalarm's own NAK routes "L0R0"; a NAK has sequence 0000 and no account.
    body = '"NAK"0000L0R0A0[]_13:35:48,11-22-2026'
    nak = b"\n%04X%04X" % (crc16_arc(body.encode()), len(body)) + body.encode() + b"\r"
    assert parse_response(nak, key=None) == Response("NAK", None, "0", "0", None, AT)


def test_our_responses_round_trip() -> None:
    nak = encode_nak(receiver="0", prefix="0", at=AT)
    assert nak.endswith(b'"NAK"0000R0L0A0[]_13:35:48,11-22-2026\r')
    assert parse_response(nak, key=None) == Response("NAK", None, "0", "0", None, AT)
    duh = encode_duh(seq=8, receiver="0", prefix="0", account="1234")
    assert duh.endswith(b'"DUH"0008R0L0#1234[]\r')
    assert parse_response(duh, key=None) == Response("DUH", 8, "0", "0", "1234", None)
    ack = encode_ack(seq=8, receiver="0", prefix="0", account="1234", at=AT, key=KEY)
    assert b'"*ACK"0008R0L0#1234[' in ack
    assert parse_response(ack, key=KEY) == Response("ACK", 8, "0", "0", "1234", AT)


# -- round trips --------------------------------------------------------------------------

accounts = st.from_regex(r"[0-9A-F]{3,16}", fullmatch=True)
events = st.builds(
    SiaEvent,
    account=accounts,
    code=st.integers(0, 999),
    qualifier=st.sampled_from([1, 3, 6]),
    zone=st.integers(0, 999),
    partition=st.integers(0, 99),
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda t: t.replace(microsecond=0))
routes = st.from_regex(r"[0-9A-F]{1,6}", fullmatch=True)
keys = st.sampled_from([b"K" * 16, b"0123456789abcdef01234567", b"Z" * 32])
pads = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="|[]"),
    min_size=16,
    max_size=16,
)


@given(events, st.integers(1, 9999), st.none() | routes, routes, times)
def test_plain_event_round_trip(
    event: SiaEvent, seq: int, receiver: str | None, prefix: str, at: datetime
) -> None:
    frame = encode_event(event, seq=seq, receiver=receiver, prefix=prefix, at=at, key=None)
    got = parse_event(frame, keys={})
    assert got == ParsedFrame("ADM-CID", False, seq, receiver, prefix, event.account, event, at)


@given(events, st.integers(1, 9999), times, keys, st.none() | pads)
def test_encrypted_event_round_trip(
    event: SiaEvent, seq: int, at: datetime, key: bytes, pad: str | None
) -> None:
    frame = encode_event(event, seq=seq, receiver="0", prefix="0", at=at, key=key, pad=pad)
    got = parse_event(frame, keys={event.account: key})
    assert got == ParsedFrame("ADM-CID", True, seq, "0", "0", event.account, event, at)


@settings(max_examples=50)
@given(events, st.integers(1, 9999), times, st.none() | st.just(KEY))
def test_pysiaalarm_reads_what_we_encode(
    event: SiaEvent, seq: int, at: datetime, key: bytes | None
) -> None:
    frame = encode_event(event, seq=seq, receiver="0", prefix="0", at=at, key=key, pad="x" * 16)
    peer = peer_parse(frame, key=None if key is None else key.decode(), account=event.account)
    assert peer.valid_message
    assert peer.account == event.account
    assert peer.sequence == f"{seq:04d}"
    assert peer.event_qualifier == str(event.qualifier)
    assert peer.event_type == f"{event.code:03d}"
    assert peer.ri == f"{event.zone:03d}"
    assert peer.partition == f"{event.partition:02d}"
    assert peer.timestamp == at


@given(accounts, st.integers(1, 9999), times, st.none() | keys)
def test_null_round_trip(account: str, seq: int, at: datetime, key: bytes | None) -> None:
    frame = encode_null(seq=seq, receiver="0", prefix="0", account=account, at=at, key=key)
    got = parse_event(frame, keys={} if key is None else {account: key})
    assert got == ParsedFrame("NULL", key is not None, seq, "0", "0", account, None, at)


@given(accounts, st.integers(1, 9999), st.none() | times, st.none() | keys)
def test_ack_round_trip(account: str, seq: int, at: datetime | None, key: bytes | None) -> None:
    if key is not None and at is None:
        at = AT
    frame = encode_ack(seq=seq, receiver="0", prefix="0", account=account, at=at, key=key)
    assert parse_response(frame, key=key) == Response("ACK", seq, "0", "0", account, at)


# -- what it refuses ----------------------------------------------------------------------


def test_bad_crc_raises() -> None:
    damaged = ENV_FRAME.replace(b"1101", b"1100")  # same length, other CRC
    with pytest.raises(Dc09FrameError) as err:
        parse_event(damaged, keys={})
    assert err.value.problem == "crc" and not err.value.retryable
    with pytest.raises(Dc09FrameError, match="CRC"):
        parse_response(b"\n0000" + ENV_FRAME[5:], key=None)


def test_bad_length_raises() -> None:
    with pytest.raises(Dc09FrameError) as err:
        parse_event(ENV_FRAME.replace(b"003D", b"003C", 1), keys={})
    assert err.value.problem == "length"
    with pytest.raises(Dc09FrameError) as err:
        parse_event(ENV_FRAME[:-10] + b"\r", keys={})  # truncated
    assert err.value.problem == "length"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b'"NAK"',  # pysiaalarm's bare answer to an unknown account: no LF, CRC or CR
        ENV_FRAME[1:],  # no LF
        ENV_FRAME[:-1],  # no CR
        b"\nZZZZ003D" + ENV_FRAME[9:],  # CRC not hex
        b"\n+91+003D" + ENV_FRAME[9:],
        "\nF910003D\u00e9".encode() + ENV_FRAME[10:],  # not ASCII
    ],
)
def test_not_a_frame_raises(frame: bytes) -> None:
    with pytest.raises(Dc09FrameError):
        parse_event(frame, keys={})
    with pytest.raises(Dc09FrameError):
        parse_response(frame, key=None)


def test_encrypted_without_or_with_the_wrong_key() -> None:
    frame = encode_event(SiaEvent("1234", 101, 1, 1), seq=1, receiver="0", **CRYPT)
    with pytest.raises(Dc09FrameError) as err:
        parse_event(frame, keys={})
    assert err.value.problem == "key"
    with pytest.raises(Dc09FrameError):
        parse_event(frame, keys={"1234": b"F" * 16})
    ack = encode_ack(seq=1, receiver="0", prefix="0", account="1234", at=AT, key=KEY)
    with pytest.raises(Dc09FrameError) as err:
        parse_response(ack, key=None)
    assert err.value.problem == "key"


def _frame(body: str) -> bytes:
    return b"\n%04X%04X" % (crc16_arc(body.encode()), len(body)) + body.encode() + b"\r"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('"SIA-DCS"0001R0L0#1234[#1234|Nri1/BA01]_13:35:48,11-22-2026', "unsupported"),
        ('"ADM-CID"0001R0L0#1234[#1234|4101 01 001]_13:35:48,11-22-2026', "format"),  # Q=4
        ('"ADM-CID"0001R0L0#1234[#1234|1101 01 01]_13:35:48,11-22-2026', "format"),
        ('"ADM-CID"0001R0L0#1234[#5678|1101 01 001]_13:35:48,11-22-2026', "format"),
        ('"ADM-CID"0001R0L0#1234[#1234|1101 01 001]_13:35:48,13-22-2026', "format"),
        ('"ADM-CID"0000R0L0#1234[#1234|1101 01 001]_13:35:48,11-22-2026', "format"),
        ('"ADM-CID"0001R0L0[#1234|1101 01 001]_13:35:48,11-22-2026', "format"),  # no #acct
        ('"ACK"0001R0L0#1234[]', "unsupported"),
    ],
)
def test_event_content_errors(body: str, problem: str) -> None:
    with pytest.raises(Dc09FrameError) as err:
        parse_event(_frame(body), keys={})
    assert err.value.problem == problem


def test_a_response_must_be_a_response() -> None:
    with pytest.raises(Dc09FrameError) as err:
        parse_response(ENV_FRAME, key=None)
    assert err.value.problem == "unsupported"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"account": "12"},  # 3-16 hex digits
        {"account": "12345678901234567"},
        {"account": "abcd"},  # upper case only
        {"qualifier": 2},
        {"code": 1000},
        {"zone": -1},
        {"partition": 100},
    ],
)
def test_event_values_are_checked(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"account": "1234", "code": 101, "qualifier": 1, "zone": 1}
    with pytest.raises(ValueError):
        SiaEvent(**{**fields, **kwargs})  # type: ignore[arg-type]


def test_encode_arguments_are_checked() -> None:
    event = SiaEvent("1234", 101, 1, 1)
    for seq in (0, 10000):
        with pytest.raises(ValueError, match="sequence"):
            encode_event(event, seq=seq, receiver="0", prefix="0", at=AT, key=None)
    with pytest.raises(ValueError, match="aware"):
        encode_event(event, seq=1, receiver="0", prefix="0", at=AT.replace(tzinfo=None), key=None)
    with pytest.raises(ValueError, match="AES"):
        encode_event(event, seq=1, receiver="0", prefix="0", at=AT, key=b"short")
    with pytest.raises(ValueError, match="prefix"):
        encode_event(event, seq=1, receiver="0", prefix="G", at=AT, key=None)
    with pytest.raises(ValueError, match="pad"):
        encode_event(event, seq=1, receiver="0", prefix="0", at=AT, key=KEY, pad="|" * 16)
    with pytest.raises(ValueError, match="timestamp"):
        encode_ack(seq=1, receiver="0", prefix="0", account="1234", at=None, key=KEY)
