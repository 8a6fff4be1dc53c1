"""SIA DC-09 frames carrying Ademco Contact ID (ADM-CID): bytes in, values out. Pure.

A frame (SIA DC-09-2013 §5.5, unchanged in DC-09-2021):

    <LF> <crc> <0LLL> "<id>" <seq> R<rcvr> L<pref> #<acct> [ <data> ] <x-data> <time> <CR>

- crc: CRC-16/ARC (poly 0xA001 reflected, init 0) over everything from the first `"` up to,
  not including, the CR; four upper-case hex digits.
- 0LLL: the length of that same part, four upper-case hex digits (so at most 0xFFF).
- id: `ADM-CID` (an event), `NULL` (a link test), `ACK` / `NAK` / `DUH` (responses); a `*`
  before the id marks an encrypted frame.
- seq: 0001-9999; a response repeats the sequence number of the message it answers (a NAK
  says 0000).
- time: `_HH:MM:SS,MM-DD-YYYY` in UTC; mandatory in encrypted frames.
- ADM-CID data: `#acct|QEEE PP ZZZ` (qualifier, event code, partition, zone), e.g.
  `[#1234|1101 01 001]`.

Encryption (§5.5.1.7): AES-CBC with an all-zero IV over `<pad>|<data>]<x-data><time>`, sent
as upper-case hex after the `[`; the pad fills the text to a multiple of 16 bytes and must
not contain `|`, `[` or `]`. The key is the account's key string taken as ASCII bytes
(16, 24 or 32 of them: AES-128/192/256), which is how pysiaalarm and most panels read it.
The codec pads with "0" unless given pad characters: the link passes random ones, so two
equal events never encrypt to the same first block.

Nothing here reads the clock: every timestamp comes in as an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from alerts.dc09.errors import Dc09FrameError

QUALIFIER_NEW: Final = 1  # Contact ID: new event / opening
QUALIFIER_RESTORE: Final = 3  # new restore / closing
QUALIFIER_STATUS: Final = 6  # previously reported condition still present (status)
QUALIFIERS: Final = frozenset({QUALIFIER_NEW, QUALIFIER_RESTORE, QUALIFIER_STATUS})

EVENT_ID: Final = "ADM-CID"
NULL_ID: Final = "NULL"
MAX_SEQ: Final = 9999
MAX_LENGTH: Final = 0xFFF  # the length field is "0LLL"

_TIME_FORMAT: Final = "%H:%M:%S,%m-%d-%Y"
_IV: Final = bytes(16)  # DC-09 fixes the CBC IV at zero; the pad does the IV's work
_KEY_LENGTHS: Final = frozenset({16, 24, 32})
_ACCOUNT_RE: Final = re.compile(r"[0-9A-F]{3,16}")
_ROUTE_RE: Final = re.compile(r"[0-9A-F]{1,6}")  # receiver number and account prefix
_PAD_FORBIDDEN: Final = frozenset("|[]")

# After the CRC and length: the id, the sequence number, R/L in either order (pysiaalarm's
# own NAK says "L0R0"), then "#acct" or the NAK's anonymous "A0", then "[" and the data.
# The route's digits are matched lazily so that the NAK's "L0A0" reads as L0 + A0.
_HEADER_RE: Final = re.compile(
    r'"(?P<enc>\*)?(?P<token>[A-Z][A-Z-]*)"(?P<seq>\d{4})'
    r"(?P<route>(?:[RL][0-9A-Fa-f]{1,6}?)*)"
    r"(?:#(?P<account>[0-9A-Fa-f]{3,16})|A[0-9A-Fa-f]*)?"
    r"\[(?P<data>.*)\Z",
    re.DOTALL,
)
_ROUTE_PART_RE: Final = re.compile(r"([RL])([0-9A-Fa-f]+)")
# What may follow the data's closing "]": extended data blocks, then the timestamp.
_TAIL: Final = r"\](?P<xdata>(?:\[[^\[\]]*\])*)(?:_(?P<ts>\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}))?\Z"
_CID_RE: Final = re.compile(
    r"(?:#(?P<account>[0-9A-Fa-f]{3,16})\|)?"
    r"(?P<q>\d)(?P<code>\d{3}) (?P<partition>\d{2}) (?P<zone>\d{3})" + _TAIL
)
_EMPTY_RE: Final = re.compile(r"(?:#[0-9A-Fa-f]{3,16}\|?)?" + _TAIL)  # NULL: "[]" + time
_RESPONSE_RE: Final = re.compile(r"(?P<inner>[^\[\]]*)" + _TAIL)
_PAD_RE: Final = re.compile(r"[^|\[\]]*\|?")
_CRC_LEN_RE: Final = re.compile(r"[0-9A-Fa-f]{8}")
ResponseKind = Literal["ACK", "NAK", "DUH"]
_RESPONSE_KINDS: Final[dict[str, ResponseKind]] = {"ACK": "ACK", "NAK": "NAK", "DUH": "DUH"}


@dataclass(frozen=True, slots=True)
class SiaEvent:
    """One Contact ID event for one account.

    qualifier: 1 new event, 3 restore, 6 status. code: the three-digit event code (see
    alerts.dc09.codes). zone: which sensor (001-999, 000 for the system itself);
    partition: the area (01-99).
    """

    account: str
    code: int
    qualifier: int
    zone: int
    partition: int = 1

    def __post_init__(self) -> None:
        _check_account(self.account)
        if self.qualifier not in QUALIFIERS:
            raise ValueError(f"Contact ID qualifier must be 1, 3 or 6, not {self.qualifier}")
        if not 0 <= self.code <= 999:
            raise ValueError(f"Contact ID event code must be 000-999, not {self.code}")
        if not 0 <= self.zone <= 999:
            raise ValueError(f"Contact ID zone must be 000-999, not {self.zone}")
        if not 0 <= self.partition <= 99:
            raise ValueError(f"Contact ID partition must be 00-99, not {self.partition}")


@dataclass(frozen=True, slots=True)
class Response:
    """A receiver's answer. seq is None for the NAK's 0000, account None when it names none."""

    kind: ResponseKind
    seq: int | None
    receiver: str | None
    prefix: str | None
    account: str | None
    at: datetime | None  # the receiver's clock, when it sent one (always with a NAK)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The clear-text part of any frame, CRC and length checked; `data` follows the `[`."""

    token: str
    encrypted: bool
    seq: int
    receiver: str | None
    prefix: str | None
    account: str | None
    data: str


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """A transmitter's message as a receiver reads it; event is None for a NULL link test."""

    token: str
    encrypted: bool
    seq: int
    receiver: str | None
    prefix: str | None
    account: str
    event: SiaEvent | None
    timestamp: datetime | None


# -- CRC ----------------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC: polynomial 0x8005 reflected (0xA001), init 0, no final xor."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


# -- encoding -----------------------------------------------------------------------------


def encode_event(
    event: SiaEvent,
    *,
    seq: int,
    receiver: str | None,
    prefix: str,
    at: datetime,
    key: bytes | None,
    pad: str | None = None,
) -> bytes:
    """An ADM-CID frame (`*ADM-CID`, encrypted, when `key` is given) for `event`, sent at `at`."""
    data = (
        f"#{event.account}|{event.qualifier}{event.code:03d} "
        f"{event.partition:02d} {event.zone:03d}]"
    )
    return _message(EVENT_ID, seq, receiver, prefix, event.account, data + _stamp(at), key, pad)


def encode_null(
    *,
    seq: int,
    receiver: str | None,
    prefix: str,
    account: str,
    at: datetime,
    key: bytes | None,
    pad: str | None = None,
) -> bytes:
    """The NULL message: a link test that carries no event (`[]` and the time)."""
    _check_account(account)
    return _message(NULL_ID, seq, receiver, prefix, account, "]" + _stamp(at), key, pad)


def encode_ack(
    *,
    seq: int,
    receiver: str | None,
    prefix: str,
    account: str,
    at: datetime | None = None,
    key: bytes | None = None,
    pad: str | None = None,
) -> bytes:
    """The receiver's ACK of message `seq`; encrypted (and then timestamped) when `key`."""
    if key is not None and at is None:
        raise ValueError("an encrypted ACK needs its timestamp")
    data = "]" + ("" if at is None else _stamp(at))
    return _message("ACK", seq, receiver, prefix, account, data, key, pad)


def encode_nak(*, receiver: str | None, prefix: str, at: datetime) -> bytes:
    """NAK (never encrypted): sequence 0000, no account, the receiver's own time (§5.5.2.2)
    so that a transmitter with a wrong clock can see by how much."""
    head = f'"NAK"0000{_route(receiver, prefix)}A0['
    return _frame(head + "]" + _stamp(at))


def encode_duh(*, seq: int, receiver: str | None, prefix: str, account: str) -> bytes:
    """DUH: the receiver will not take this message (unknown account, code or format)."""
    return _message("DUH", seq, receiver, prefix, account, "]", None, None)


def _message(
    token: str,
    seq: int,
    receiver: str | None,
    prefix: str,
    account: str,
    data: str,
    key: bytes | None,
    pad: str | None,
) -> bytes:
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"DC-09 sequence numbers run 0001-9999, not {seq}")
    _check_account(account)
    star = "*" if key is not None else ""
    head = f'"{star}{token}"{seq:04d}{_route(receiver, prefix)}#{account}['
    return _frame(head + (data if key is None else _encrypt("|" + data, key, pad)))


def _route(receiver: str | None, prefix: str) -> str:
    for name, value in (("receiver", receiver), ("prefix", prefix)):
        if value is not None and not _ROUTE_RE.fullmatch(value):
            raise ValueError(f"DC-09 {name} must be 1-6 upper-case hex digits, not {value!r}")
    return ("" if receiver is None else f"R{receiver}") + f"L{prefix}"


def _stamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("DC-09 timestamps are UTC: pass an aware datetime")
    return "_" + at.astimezone(UTC).strftime(_TIME_FORMAT)


def _frame(body: str) -> bytes:
    raw = body.encode("ascii")
    if len(raw) > MAX_LENGTH:
        raise ValueError(f"a DC-09 frame holds at most {MAX_LENGTH} bytes, not {len(raw)}")
    return b"\n%04X%04X" % (crc16_arc(raw), len(raw)) + raw + b"\r"


def _check_account(account: str) -> None:
    if not _ACCOUNT_RE.fullmatch(account):
        raise ValueError(f"a DC-09 account is 3-16 upper-case hex digits, not {account!r}")


# -- encryption ---------------------------------------------------------------------------


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    if len(key) not in _KEY_LENGTHS:
        raise ValueError(f"an AES key has 16, 24 or 32 bytes, not {len(key)}")
    return Cipher(algorithms.AES(key), modes.CBC(_IV))


def _encrypt(text: str, key: bytes, pad: str | None) -> str:
    """`text` (which starts with the pad's `|`) behind 1-16 pad characters, encrypted, as hex."""
    n = 16 - len(text) % 16
    chars = "0" * 16 if pad is None else pad
    if len(chars) < n or _PAD_FORBIDDEN & set(chars[:n]) or not chars[:n].isascii():
        raise ValueError("pad needs 16 ASCII characters other than '|', '[' and ']'")
    enc = _cipher(key).encryptor()
    return (enc.update((chars[:n] + text).encode("ascii")) + enc.finalize()).hex().upper()


def _decrypt(data: str, key: bytes) -> str:
    """The clear text of an encrypted frame's data, its pad (and the pad's `|`) removed."""
    try:
        raw = bytes.fromhex(data)
    except ValueError as exc:
        raise Dc09FrameError("encrypted data is not hex") from exc
    if not raw or len(raw) % 16:
        raise Dc09FrameError(f"encrypted data of {len(raw)} bytes is not whole AES blocks")
    dec = _cipher(key).decryptor()
    plain = dec.update(raw) + dec.finalize()
    try:
        text = plain.decode("ascii")
    except UnicodeDecodeError as exc:  # garbage: the wrong key (or a damaged frame)
        msg = "encrypted data does not decrypt with this key"
        raise Dc09FrameError(msg, problem="key") from exc
    pad = _PAD_RE.match(text)
    assert pad is not None  # the pattern matches the empty string
    return text[pad.end() :]


# -- parsing ------------------------------------------------------------------------------


def parse_header(frame: bytes) -> FrameHeader:
    """Check a frame's LF/CR framing, length and CRC, and read its clear-text header."""
    if len(frame) < 10 or frame[:1] != b"\n" or frame[-1:] != b"\r":
        raise Dc09FrameError("not a DC-09 frame (LF ... CR)")
    try:
        text = frame[1:-1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise Dc09FrameError("a DC-09 frame is ASCII") from exc
    crc_hex, length_hex, body = text[:4], text[4:8], text[8:]
    if not _CRC_LEN_RE.fullmatch(crc_hex + length_hex):
        raise Dc09FrameError(f"CRC {crc_hex!r} or length {length_hex!r} is not hex")
    crc, length = int(crc_hex, 16), int(length_hex, 16)
    if length != len(body):
        raise Dc09FrameError(f"length says {length}, frame has {len(body)}", problem="length")
    if crc != crc16_arc(body.encode("ascii")):
        raise Dc09FrameError(f"CRC {crc_hex} does not match the frame", problem="crc")
    m = _HEADER_RE.match(body)
    if m is None:
        raise Dc09FrameError(f"unreadable DC-09 header in {body[:40]!r}")
    route = dict(_ROUTE_PART_RE.findall(m["route"].upper()))
    account = m["account"]
    return FrameHeader(
        token=m["token"],
        encrypted=m["enc"] is not None,
        seq=int(m["seq"]),
        receiver=route.get("R"),
        prefix=route.get("L"),
        account=None if account is None else account.upper(),
        data=m["data"],
    )


def parse_event(frame: bytes, *, keys: Mapping[str, bytes]) -> ParsedFrame:
    """Read a transmitter's ADM-CID or NULL frame; `keys` maps account -> AES key.

    Raises Dc09FrameError: problem "crc"/"length"/"format" for a damaged frame, "key" for
    an encrypted frame of an account without a key (or with another key), "unsupported"
    for other message types (SIA-DCS, ...).
    """
    head = parse_header(frame)
    if head.token not in (EVENT_ID, NULL_ID):
        raise Dc09FrameError(f"message type {head.token!r} not supported", problem="unsupported")
    if head.account is None:
        raise Dc09FrameError("a DC-09 message names its account (#acct)")
    if head.seq == 0:
        raise Dc09FrameError("a DC-09 message's sequence number is 0001-9999, not 0000")
    data = _clear_data(head, keys.get(head.account))
    if head.token == NULL_ID:
        m = _EMPTY_RE.match(data)
        if m is None:
            raise Dc09FrameError(f"unreadable NULL data {data[:40]!r}")
        event = None
    else:
        m = _CID_RE.match(data)
        if m is None:
            raise Dc09FrameError(f"unreadable Contact ID data {data[:40]!r}")
        if m["account"] is not None and m["account"].upper() != head.account:
            raise Dc09FrameError("the data names another account than the header")
        try:
            event = SiaEvent(
                head.account, int(m["code"]), int(m["q"]), int(m["zone"]), int(m["partition"])
            )
        except ValueError as exc:  # e.g. qualifier 4
            raise Dc09FrameError(str(exc)) from exc
    return ParsedFrame(
        token=head.token,
        encrypted=head.encrypted,
        seq=head.seq,
        receiver=head.receiver,
        prefix=head.prefix,
        account=head.account,
        event=event,
        timestamp=_parse_time(m["ts"]),
    )


def parse_response(frame: bytes, *, key: bytes | None) -> Response:
    """Read a receiver's ACK, NAK or DUH; `key` decrypts an encrypted (`*ACK`) one.

    Accepts pysiaalarm's variants: an ACK without a timestamp, an encrypted ACK whose clear
    text has no `|` after the pad, a NAK routed "L0R0".
    """
    head = parse_header(frame)
    kind = _RESPONSE_KINDS.get(head.token)
    if kind is None:
        raise Dc09FrameError(f"{head.token!r} is not a response", problem="unsupported")
    data = _clear_data(head, key)
    m = _RESPONSE_RE.match(data)
    if m is None:
        raise Dc09FrameError(f"unreadable response data {data[:40]!r}")
    return Response(
        kind=kind,
        seq=head.seq or None,
        receiver=head.receiver,
        prefix=head.prefix,
        account=head.account,
        at=_parse_time(m["ts"]),
    )


def _clear_data(head: FrameHeader, key: bytes | None) -> str:
    if not head.encrypted:
        return head.data
    if key is None:
        raise Dc09FrameError(f"encrypted frame but no key for {head.account!r}", problem="key")
    return _decrypt(head.data, key)


def _parse_time(ts: str | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.strptime(ts, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:  # e.g. month 13
        raise Dc09FrameError(f"bad timestamp {ts!r}") from exc
