"""Simulated devices that feed the detectors: the streaming wearable, ambient sensors."""

from __future__ import annotations

import numpy as np

from sensors.codecs.bthome import decode_advertisement
from sensors.codecs.wearable import DeviceClock, decode_frame
from simulators.devices.ambient import SimulatedAmbientSensor
from simulators.devices.wearable import ReplayRecording
from simulators.devices.wearable_stream import StreamingWearable


def recording(seconds: float = 2.0, fs: float = 200.0) -> ReplayRecording:
    n = int(seconds * fs)
    t = np.arange(n) / fs
    a = np.tile([0.0, 0.0, -1.0], (n, 1))  # lying on the back at the end
    return ReplayRecording(t=t, accel=a, fs=fs, label=1, code="F01", subject="SA01")


def test_one_continuous_stream_around_a_replay() -> None:
    w = StreamingWearable("wearable-1", "aa:bb:cc:dd:ee:ff", fs=50.0)
    frames = w.frames_until(100.0)  # starts the device clock
    w.play(recording(), at=101.0)
    for k in range(1, 80):
        frames += w.frames_until(100.0 + k * 0.1)
    decoded = [decode_frame(f) for f in frames]
    assert [d.sequence for d in decoded] == list(range(len(decoded)))  # one sequence
    clock = DeviceClock()
    times = np.concatenate([clock.sample_times(d) for d in decoded])
    assert np.all(np.diff(times) > 0)  # one device clock, never back
    rates = {round(1 / d.interval_s) for d in decoded}
    assert rates == {50, 200}  # idle, the 200 Hz recording, idle again at its rate
    # After the recording the wearer keeps its last posture (lying: z = -1 g).
    assert decoded[-1].accel_g()[:, 2].mean() < -0.9
    assert w.played == ["F01/SA01"]


def test_ambient_sensor_sends_its_state_in_bthome() -> None:
    door = SimulatedAmbientSensor("door-1", "A4:C1:38:00:00:07", "door")
    bed = SimulatedAmbientSensor("bed-1", "A4:C1:38:00:00:08", "bed")
    (adv, *_) = door.set(1.0, True)
    values = {r.quantity: r.value for r in decode_advertisement("door-1", adv).readings}
    assert values["opening"] == 1.0
    (adv, *_) = bed.tick(2.0)
    values = {r.quantity: r.value for r in decode_advertisement("bed-1", adv).readings}
    assert values["occupancy"] == 0.0
