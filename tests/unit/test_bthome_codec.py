"""BTHome v2: our encoder, the real bthome_ble parser, and what is garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.codecs.bthome import (
    SERVICE_UUID,
    BTHomeDecoder,
    BTHomePayload,
    decode_advertisement,
    encode_advertisement,
    encode_service_data,
)
from sensors.errors import DecodeError
from sensors.readings import Advertisement, ButtonEvent, ButtonPress, DecodedFrame, Reading

MAC = "A4:C1:38:00:00:01"
T = 1_700_000_000.0


def adv(data: bytes, t: float = T) -> Advertisement:
    return Advertisement(address=MAC, service_data={SERVICE_UUID: data}, rssi=-60, t=t)


@pytest.mark.parametrize(
    ("hex_data", "expected"),
    [
        # pendant press: trigger-based device, packet 5, battery 87 %, button "press"
        (
            "44 00 05 01 57 3a 01",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=5,
                battery=87.0,
                readings=(Reading("p1", "battery", T, 87.0),),
                buttons=(ButtonEvent("p1", ButtonPress.PRESS, T),),
            ),
        ),
        # long press, no battery
        (
            "44 00 ff 3a 04",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=255,
                buttons=(ButtonEvent("p1", ButtonPress.LONG_PRESS, T),),
            ),
        ),
        # keep-alive: battery only
        (
            "44 00 06 01 56",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=6,
                battery=86.0,
                readings=(Reading("p1", "battery", T, 86.0),),
            ),
        ),
        # room sensor: temperature -5.25 degC (sint16 LE 0xfdf3), humidity 55.50 %, motion
        (
            "40 00 01 02 f3 fd 03 ae 15 21 01",
            DecodedFrame(
                sensor="p1",
                t=T,
                packet_id=1,
                readings=(
                    Reading("p1", "humidity", T, 55.5),
                    Reading("p1", "motion", T, 1.0),
                    Reading("p1", "temperature", T, -5.25),
                ),
            ),
        ),
        # example from bthome.io: temperature 25.00 degC, humidity 50.55 %
        (
            "40 02 c4 09 03 bf 13",
            DecodedFrame(
                sensor="p1",
                t=T,
                readings=(
                    Reading("p1", "humidity", T, 50.55),
                    Reading("p1", "temperature", T, 25.0),
                ),
            ),
        ),
    ],
)
def test_decode_captured_payloads(hex_data: str, expected: DecodedFrame) -> None:
    assert decode_advertisement("p1", adv(bytes.fromhex(hex_data))) == expected


def test_encode_pendant_press_bytes() -> None:
    payload = BTHomePayload(packet_id=5, battery=87, button=ButtonPress.PRESS, trigger_based=True)
    assert encode_service_data(payload) == bytes.fromhex("44 00 05 01 57 3a 01")


@given(
    packet_id=st.integers(0, 255),
    battery=st.none() | st.integers(0, 100),
    temperature=st.none() | st.integers(-27000, 27000).map(lambda v: v / 100),
    humidity=st.none() | st.integers(0, 10000).map(lambda v: v / 100),
    illuminance=st.none() | st.integers(0, 2**24 - 1).map(lambda v: v / 100),
    motion=st.none() | st.booleans(),
    button=st.none() | st.sampled_from(list(ButtonPress)),
    trigger_based=st.booleans(),
)
def test_round_trip_through_bthome_ble(
    packet_id: int,
    battery: int | None,
    temperature: float | None,
    humidity: float | None,
    illuminance: float | None,
    motion: bool | None,
    button: ButtonPress | None,
    trigger_based: bool,
) -> None:
    payload = BTHomePayload(
        packet_id, battery, temperature, humidity, illuminance, motion, button, trigger_based
    )
    frame = decode_advertisement("s1", encode_advertisement(MAC, payload, t=T))
    values = {r.quantity: r.value for r in frame.readings}
    assert frame.packet_id == packet_id
    assert frame.battery == (None if battery is None else float(battery))
    expected = {
        "battery": battery,
        "temperature": temperature,
        "humidity": humidity,
        "illuminance": illuminance,
        "motion": None if motion is None else float(motion),
    }
    for quantity, value in expected.items():
        if value is None:
            assert quantity not in values
        else:
            assert values[quantity] == pytest.approx(value, abs=1e-9)
    assert [b.press for b in frame.buttons] == ([] if button is None else [button])


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (bytes.fromhex("40"), "no objects"),
        (bytes.fromhex("20 00 01"), "not BTHome v2"),  # version 1 in the info byte
        (bytes.fromhex("41 00 01 01 50"), "encrypted"),
        (bytes.fromhex("42 00 01"), "reserved bit"),
        (bytes.fromhex("40 00 01 02 f3"), "truncated"),  # temperature needs 2 bytes
        (bytes.fromhex("40 00"), "truncated"),
        (bytes.fromhex("40 00 01 ee 05"), "unknown object id"),
    ],
)
def test_garbage_is_rejected(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_advertisement("p1", adv(data))


def test_no_bthome_service_data() -> None:
    other = Advertisement(MAC, {"0000fe95-0000-1000-8000-00805f9b34fb": b"\x01\x02"}, -70, T)
    with pytest.raises(DecodeError, match="0xFCD2"):
        decode_advertisement("p1", other)


@given(st.binary(max_size=40))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        frame = decode_advertisement("p1", adv(data))
    except DecodeError:
        return
    assert frame.sensor == "p1"


def test_decoder_drops_repeats_of_one_advertisement() -> None:
    dec = BTHomeDecoder("p1")
    press = encode_service_data(
        BTHomePayload(packet_id=7, button=ButtonPress.PRESS, trigger_based=True)
    )
    first = dec.decode(adv(press, T))
    assert first is not None and first.buttons
    assert dec.decode(adv(press, T + 0.1)) is None  # the device's own repeat
    assert dec.decode(adv(press, T + 0.2)) is None
    # An older id arriving late (reordered) is a repeat too.
    older = encode_service_data(BTHomePayload(packet_id=6, battery=50))
    assert dec.decode(adv(older, T + 0.3)) is None
    # The next press has the next id; wrap-around 255 -> 0 counts as newer.
    nxt = encode_service_data(BTHomePayload(packet_id=8, button=ButtonPress.PRESS))
    assert dec.decode(adv(nxt, T + 1)) is not None
    # Same id after the window (a restarted device): a new frame.
    assert dec.decode(adv(nxt, T + 10)) is not None


def test_decoder_packet_id_wraps() -> None:
    dec = BTHomeDecoder("p1")
    assert dec.decode(adv(encode_service_data(BTHomePayload(packet_id=255, battery=1)), T))
    assert dec.decode(adv(encode_service_data(BTHomePayload(packet_id=0, battery=1)), T + 1))


def test_encoder_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="range"):
        encode_service_data(BTHomePayload(battery=101))
    with pytest.raises(ValueError, match="range"):
        encode_service_data(BTHomePayload(temperature=400.0))
