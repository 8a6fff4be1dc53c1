"""bthome-ble's own test payloads, fed to our decoder (a peer's tests, not ours).

tests/data/bthome_ble_v2_vectors.json holds the payloads of bthome-ble's
tests/test_parser_v2.py with the values that suite expects (origin and licence in the file).
Here they are mapped to our quantities and units by an explicit table, so that a unit or
key mistake in the codec (pounds stored as kilograms, a second thermometer lost) shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sensors.codecs.bthome import SERVICE_UUID, BTHomeDecoder, decode_advertisement
from sensors.errors import DecodeError, StaleCounterError
from sensors.readings import Advertisement, ButtonPress, DecodedFrame

_DOC = json.loads(
    (Path(__file__).parents[1] / "data" / "bthome_ble_v2_vectors.json").read_text("utf-8")
)
T = 1_709_331_995.5181565  # the peer's ADVERTISEMENT_TIME

# The peer's keys -> ours; anything not listed is not a reading we use.
QUANTITY = {
    "battery": "battery",
    "temperature": "temperature",
    "humidity": "humidity",
    "illuminance": "illuminance",
    "mass": "weight",
    "voltage": "voltage",
    "moisture": "moisture",
    "rotation": "tilt",
}
BINARY = {
    "motion": "motion",
    "opening": "opening",
    "door": "door",
    "window": "window",
    "occupancy": "occupancy",
    "presence": "presence",
    "vibration": "vibration",
    "moisture": "wet",
}
LB = 0.45359237


def _ours(key: str, table: dict[str, str]) -> str | None:
    base, _, n = key.rpartition("_")
    if base and n.isdigit():
        q = table.get(base)
        return None if q is None else (q if n == "1" else f"{q}_{n}")
    return table.get(key)


def expected_readings(vec: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in vec["values"].items():
        q = _ours(key, QUANTITY)
        if q is not None:
            unit = vec.get("units", {}).get(key)
            out[q] = value * LB if unit == "lb" else float(value)
    for key, value in vec["binary"].items():
        q = _ours(key, BINARY)
        if q is not None:
            out[q] = float(value)
    return out


def adv(vec: dict[str, Any], data: str, t: float = T) -> Advertisement:
    return Advertisement(
        address=vec["mac"], service_data={SERVICE_UUID: bytes.fromhex(data)}, rssi=-60, t=t
    )


def key_of(vec: dict[str, Any]) -> bytes | None:
    return None if vec["key"] is None else bytes.fromhex(vec["key"])


def test_the_peer_file_is_what_we_think_it_is() -> None:
    assert "bthome-ble" in _DOC["origin"] and "MIT" in _DOC["licence"]
    assert len(_DOC["vectors"]) >= 100


@pytest.mark.parametrize("vec", _DOC["vectors"], ids=[v["test"] for v in _DOC["vectors"]])
def test_peer_payload_decodes_to_the_peer_values(vec: dict[str, Any]) -> None:
    want = expected_readings(vec)
    want_buttons = {k: v for k, v in vec["events"].items() if k.startswith("button")}
    if vec["test"] == "test_bthome_invalid_button_event":
        want_buttons = {"button": "hold_press"}  # the legacy Shelly hold (see the file's note)
    try:
        frame = decode_advertisement("s1", adv(vec, vec["data"]), key=key_of(vec))
    except DecodeError:
        # Nothing readable: the peer must not have read anything we use either.
        assert not want and not want_buttons and "packet_id" not in vec["values"]
        return
    assert frame.rejected == ()
    if not vec.get("values_asserted", True):
        return  # the peer asserts only that the bind key verifies: it did
    got = {r.quantity: r.value for r in frame.readings}
    assert got.keys() == want.keys()
    for q, value in want.items():
        assert got[q] == pytest.approx(value, abs=1e-3), q
    buttons = {
        "button" if b.index is None else f"button_{b.index}": b.press.value for b in frame.buttons
    }
    assert buttons == want_buttons
    assert frame.packet_id == vec["values"].get("packet_id")
    # What the peer read and we do not use is counted, never silently gone.
    unused = set(vec["values"]) - {"packet_id"} - {k for k in vec["values"] if _ours(k, QUANTITY)}
    for key in unused:
        assert any(s.startswith(key) for s in frame.skipped), (key, frame.skipped)


def test_pounds_become_kilograms() -> None:
    # 40 07 3e 1d: 74.86 lb is 33.96 kg, not 74.86 kg.
    vec = next(v for v in _DOC["vectors"] if v["test"] == "test_bthome_mass_pounds")
    frame = decode_advertisement("scale", adv(vec, vec["data"]))
    assert [(r.quantity, round(r.value, 2)) for r in frame.readings] == [("weight", 33.96)]


def _outcome(dec: BTHomeDecoder, a: Advertisement) -> tuple[str, DecodedFrame | None]:
    try:
        frame = dec.decode(a)
    except StaleCounterError:
        return "refused", None  # a replayed or stale counter
    except DecodeError:
        return "error", None  # e.g. plaintext from a keyed device
    return ("duplicate" if frame is None else "accepted"), frame


@pytest.mark.parametrize("seq", _DOC["sequences"], ids=[s["test"] for s in _DOC["sequences"]])
def test_peer_sequences_of_frames(seq: dict[str, Any]) -> None:
    """Packet-id repeats and encryption counters as the peer's suite walks them."""
    dec = BTHomeDecoder("s1", key=key_of(seq))
    outcomes = []
    for frame in seq["frames"]:
        outcome, _ = _outcome(dec, adv(seq, frame["data"], T + frame["dt"]))
        outcomes.append(outcome)
    assert outcomes == [f["outcome"] for f in seq["frames"]]
    refused = sum(1 for o in outcomes if o == "refused")
    assert dec.replays == refused


def test_a_replayed_encrypted_frame_is_refused_and_counted() -> None:
    seq = next(s for s in _DOC["sequences"] if s["test"] == "test_increasing_encryption_counter")
    first, second = (f["data"] for f in seq["frames"])
    dec = BTHomeDecoder("s1", key=key_of(seq))
    assert dec.decode(adv(seq, first)) is not None
    assert dec.decode(adv(seq, second, T + 1)) is not None
    # The first frame again, later (an attacker's recording): refused, counted.
    with pytest.raises(StaleCounterError, match="replayed or stale"):
        dec.decode(adv(seq, first, T + 30))
    # The latest frame again after the repeat window: a replay too.
    with pytest.raises(StaleCounterError):
        dec.decode(adv(seq, second, T + 30))
    assert dec.replays == 2


def test_wrong_key_and_missing_key_are_clear_errors() -> None:
    vec = next(v for v in _DOC["vectors"] if v["test"] == "test_bindkey_correct")
    with pytest.raises(DecodeError, match="does not authenticate"):
        decode_advertisement("s1", adv(vec, vec["data"]), key=bytes(range(16)))
    with pytest.raises(DecodeError, match="no bind key"):
        decode_advertisement("s1", adv(vec, vec["data"]))
    # Another device's address: the nonce differs, the frame does not authenticate.
    other = {**vec, "mac": "54:48:E6:8F:80:A6"}
    with pytest.raises(DecodeError, match="does not authenticate"):
        decode_advertisement("s1", adv(other, vec["data"]), key=key_of(vec))


def test_plaintext_from_a_keyed_device_is_a_refused_downgrade() -> None:
    vec = next(v for v in _DOC["vectors"] if v["test"] == "test_bthome_temperature_humidity")
    with pytest.raises(DecodeError, match="downgrade"):
        decode_advertisement("s1", adv(vec, vec["data"]), key=bytes(range(16)))


def test_button_presses_of_the_peer_enum() -> None:
    # Every event bthome-ble names is one of ours, by the same name.
    from bthome_ble.event import BUTTON_EVENTS

    names = {v for v in BUTTON_EVENTS.values() if v is not None}
    assert names <= {p.value for p in ButtonPress}


# ------------------------------------------------- a second peer: ble_monitor's suite

_BLE_MONITOR = json.loads(
    (Path(__file__).parents[1] / "data" / "ble_monitor_bthome_v2_vectors.json").read_text("utf-8")
)
# ble_monitor's keys -> ours (it already names mass "weight", in kg).
BLE_MONITOR = {
    **{k: k for k in ("temperature", "humidity", "battery", "illuminance", "weight")},
    **{k: k for k in ("voltage", "moisture", "opening", "door", "window", "motion")},
    **{k: k for k in ("occupancy", "presence", "vibration")},
    "rotation": "tilt",
    "moisture detected": "wet",
}
BUTTON_NAMES = {"double press": "double_press"}


def hci_advertisement(hci: str) -> Advertisement:
    """An HCI LE Advertising Report (the bytes btmon shows) -> our Advertisement: the
    advertiser's address and the service data under 0xFCD2, read from its AD structures."""
    raw = bytes.fromhex(hci)
    assert raw[:2] == b"\x04\x3e" and raw[3] == 0x02  # HCI event, LE meta, advertising report
    address = ":".join(f"{b:02X}" for b in raw[7:13][::-1])
    ad = raw[14 : 14 + raw[13]]
    service_data: dict[str, bytes] = {}
    i = 0
    while i < len(ad):
        length, kind = ad[i], ad[i + 1]
        value = ad[i + 2 : i + 1 + length]
        if kind == 0x16 and value[:2] == b"\xd2\xfc":  # service data, 16-bit UUID 0xFCD2
            service_data[SERVICE_UUID] = value[2:]
        i += 1 + length
    return Advertisement(address, service_data, int.from_bytes(raw[-1:], signed=True), T)


@pytest.mark.parametrize(
    "vec", _BLE_MONITOR["vectors"], ids=[v["test"] for v in _BLE_MONITOR["vectors"]]
)
def test_ble_monitor_payload_decodes_to_its_values(vec: dict[str, Any]) -> None:
    a = hci_advertisement(vec["hci"])
    assert a.address == "54:48:E6:8F:80:A5"
    key = bytes.fromhex(vec["key"]) if "key" in vec else None
    exp = vec["expected"]
    want = {BLE_MONITOR[k]: float(v) for k, v in exp.items() if k in BLE_MONITOR}
    want_buttons = [BUTTON_NAMES[exp["button"]]] if "button" in exp else []
    try:
        frame = decode_advertisement("s1", a, key=key)
    except DecodeError:
        assert not want and not want_buttons and "packet" not in exp
        return
    assert {r.quantity: r.value for r in frame.readings} == pytest.approx(want, abs=1e-3)
    assert [b.press.value for b in frame.buttons] == want_buttons
    if "packet" in exp and key is None:
        assert frame.packet_id == exp["packet"]
    assert frame.rejected == ()
