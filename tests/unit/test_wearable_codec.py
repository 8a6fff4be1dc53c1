"""The BLE wearable accelerometer frame: bytes in, whole object out, and back."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.codecs.wearable import (
    HEADER_SIZE,
    MAX_SAMPLES,
    AccelFrame,
    DeviceClock,
    decode_frame,
    encode_frame,
    frame_from_g,
)
from sensors.errors import DecodeError
from simulators.devices.wearable import ReplayRecording, WearableReplay

# A captured-style frame: version 1, seq 258, t0 1000000 ms, 5 ms (200 Hz), 2 samples,
# +-16 g; samples (0, -2048, 0) = (0, -1, 0) g and (4096, 0, -32768) = (2, 0, -16) g.
FRAME = bytes.fromhex("01020140420f00f4010203000000f80000001000000080")


def test_decode_known_bytes() -> None:
    f = decode_frame(FRAME)
    assert f == AccelFrame(258, 1_000_000, 500, 16, ((0, -2048, 0), (4096, 0, -32768)))
    assert f.interval_s == pytest.approx(0.005)
    np.testing.assert_allclose(f.accel_g(), [[0, -1, 0], [2, 0, -16]])
    np.testing.assert_allclose(f.offsets_s(), [0.0, 0.005])
    assert encode_frame(f) == FRAME


frames = st.builds(
    AccelFrame,
    sequence=st.integers(0, 0xFFFF),
    t0_ms=st.integers(0, 0xFFFFFFFF),
    interval_10us=st.integers(1, 0xFFFF),
    range_g=st.sampled_from([2, 4, 8, 16]),
    counts=st.lists(
        st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=MAX_SAMPLES
    ).map(tuple),
)


@given(frames)
def test_round_trip(frame: AccelFrame) -> None:
    data = encode_frame(frame)
    assert len(data) == HEADER_SIZE + 6 * len(frame.counts)
    assert decode_frame(data) == frame


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        f = decode_frame(data)
    except DecodeError as exc:
        assert exc.device_kind == "wearable"
    else:
        assert encode_frame(f) == data


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter than the header"),
        (FRAME[:10], "shorter than the header"),
        (FRAME[:-1], "bytes for 2 samples"),
        (FRAME + b"\x00", "bytes for 2 samples"),
        (b"\x02" + FRAME[1:], "unknown frame version"),
        (FRAME[:10] + b"\x04" + FRAME[11:], "unknown range code"),
        (FRAME[:9] + b"\x00" + FRAME[10:], "sample count 0"),
        (FRAME[:9] + bytes([MAX_SAMPLES + 1]) + FRAME[10:], "sample count"),
        (FRAME[:7] + b"\x00\x00" + FRAME[9:], "sample interval 0"),
    ],
)
def test_malformed(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_frame(data)


def test_encode_validates() -> None:
    ok = decode_frame(FRAME)
    for bad in (
        AccelFrame(70000, 0, 500, 16, ok.counts),
        AccelFrame(0, -1, 500, 16, ok.counts),
        AccelFrame(0, 0, 0, 16, ok.counts),
        AccelFrame(0, 0, 500, 3, ok.counts),
        AccelFrame(0, 0, 500, 16, ()),
        AccelFrame(0, 0, 500, 16, ((0, 0, 40000),)),
    ):
        with pytest.raises(ValueError):
            encode_frame(bad)


def test_frame_from_g_quantises_and_saturates() -> None:
    f = frame_from_g(70000, 2**32 + 5, 0.05, [[0.0, -1.0, 0.0], [20.0, -20.0, 0.0004]])
    assert f.sequence == 70000 % 65536 and f.t0_ms == 5 and f.interval_10us == 5000
    assert f.counts == ((0, -2048, 0), (32767, -32768, 1))
    g = decode_frame(encode_frame(f)).accel_g()
    assert g[1, 0] == pytest.approx(16.0, abs=1e-3)  # clipped at full scale: saturated
    with pytest.raises(ValueError):
        frame_from_g(0, 0, 0.05, [[np.nan, 0.0, 0.0]])


def test_device_clock_unwraps() -> None:
    clock = DeviceClock()
    assert clock.seconds(2**32 - 1000) == 0.0
    assert clock.seconds(2**32 - 500) == pytest.approx(0.5)
    assert clock.seconds(500) == pytest.approx(1.5)  # wrapped
    f = AccelFrame(0, 1500, 500, 16, ((0, 0, 0), (0, 0, 0)))
    np.testing.assert_allclose(clock.sample_times(f), [2.5, 2.505])


def test_replay_frames_carry_the_recording() -> None:
    fs = 20.0
    t = np.arange(0, 10, 1 / fs)
    a = np.stack([np.sin(t), np.cos(t), 0.5 * np.ones_like(t)], axis=1)
    a[50:60] = np.nan  # a dropped stretch in the recording
    rec = ReplayRecording(t, a, fs, 1, "F01", "S1")
    rep = WearableReplay(rec, start=100.0, samples_per_frame=8, jitter_s=0.01, seed=3)
    out = list(rep.frames())
    arrivals = [x for x, _ in out]
    assert arrivals == sorted(arrivals) and arrivals[0] > 100.0
    clock = DeviceClock()
    ts, gs, seqs = [], [], []
    for _, data in out:
        f = decode_frame(data)
        seqs.append(f.sequence)
        ts.append(clock.sample_times(f))
        gs.append(f.accel_g())
    assert seqs == list(range(len(out)))
    tt, gg = np.concatenate(ts), np.concatenate(gs)
    keep = np.isfinite(a).all(axis=1)
    np.testing.assert_allclose(tt, t[keep], atol=1e-3)
    np.testing.assert_allclose(gg, a[keep], atol=1 / 2048)


def test_replay_hold_keeps_lying_still() -> None:
    fs = 50.0
    t = np.arange(0, 4, 1 / fs)
    a = np.tile([0.0, 0.0, 1.0], (t.size, 1))
    rep = WearableReplay(ReplayRecording(t, a, fs, 1, "F01", "S1"), hold_s=60.0)
    ts, gs = rep.samples()
    assert ts[-1] == pytest.approx(4.0 + 60.0 - 1 / fs, abs=0.05)
    assert np.abs(gs[-100:] - [0.0, 0.0, 1.0]).max() < 0.05
    assert len(list(rep.frames())) == pytest.approx(ts.size / 10, abs=1)


def test_header_layout_is_little_endian() -> None:
    assert struct.unpack_from("<BHIHBB", FRAME) == (1, 258, 1_000_000, 500, 2, 3)
