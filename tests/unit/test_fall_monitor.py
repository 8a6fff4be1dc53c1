"""The fall chain's adapter: wearable bytes -> detector -> policy -> findings (pure parts),
and the pendant's long press ("ik ben oke") routed by the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.config import load_settings
from edge.detection import Finding
from edge.detectors.fall import FallDetector, FallEvent, FallEventKind, load_params
from edge.detectors.fall_alarm import FallAlarmConfig
from edge.fall_monitor import FallMonitor, WearableClock
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from sensors import contract
from sensors.codecs.bthome import BTHomePayload, encode_advertisement
from sensors.codecs.wearable import encode_frame, frame_from_g
from sensors.errors import DecodeError
from sensors.readings import ButtonPress, Notification

T0 = 1_700_000_000.0
PENDANT = "A4:C1:38:00:00:01"
WEARABLE = "A4:C1:38:00:00:09"


class ScriptedDetector(FallDetector):
    """Confirms a fall (impact at `impact`) on the first update after `confirm_at`."""

    def __init__(self, impact: float, confirm_at: float) -> None:
        super().__init__()
        self.impact, self.confirm_at, self.done = impact, confirm_at, False

    def update(self, t: npt.ArrayLike, acc: npt.ArrayLike) -> list[FallEvent]:
        last = float(np.asarray(t)[-1])
        if not self.done and last >= self.confirm_at:
            self.done = True
            return [FallEvent(FallEventKind.FALL_CONFIRMED, last, self.impact, 4.2, score=0.97)]
        return []

    def advance(self, t: float) -> list[FallEvent]:
        return []


def still_frame(seq: int, t_dev: float, n: int = 10, fs: float = 50.0) -> bytes:
    a = np.tile([0.0, 0.0, 1.0], (n, 1))
    return encode_frame(frame_from_g(seq, 1_000 + round(t_dev * 1000), 1.0 / fs, a))


def feed(monitor: FallMonitor, seconds: float, start: float = 0.0) -> list[object]:
    """`seconds` of 50 Hz still frames arriving in real time from T0 + start."""
    out: list[object] = []
    for k in range(round(seconds * 5)):  # 10 samples per frame -> 5 frames/s
        t_dev = start + k * 0.2
        res = monitor.on_notification(still_frame(k, t_dev), T0 + t_dev + 0.2)
        out.extend(res.findings)
        out.extend(res.readings)
    return out


def test_clock_anchors_on_the_first_frame_and_follows_the_device() -> None:
    from sensors.codecs.wearable import decode_frame

    clock = WearableClock()
    t = clock.times(decode_frame(still_frame(0, 0.0)), T0 + 0.25)
    assert t[-1] == pytest.approx(T0 + 0.25)
    assert t[1] - t[0] == pytest.approx(0.02)
    # A frame arriving quicker than the first one lowers the latency estimate.
    t2 = clock.times(decode_frame(still_frame(1, 0.2)), T0 + 0.40)
    assert t2[-1] == pytest.approx(T0 + 0.40)
    # The wearable restarted (its clock went back): re-anchored on the new frame.
    t3 = clock.times(decode_frame(still_frame(0, -500.0)), T0 + 10.0)
    assert t3[-1] == pytest.approx(T0 + 10.0)


def test_activity_summary_is_one_reading_per_second() -> None:
    monitor = FallMonitor("wearable-1")
    readings = [r for r in feed(monitor, 3.0) if not hasattr(r, "kind")]
    assert len(readings) >= 2
    assert {r.quantity for r in readings} == {"activity"}  # type: ignore[attr-defined]
    assert all(r.value < 0.01 for r in readings)  # type: ignore[attr-defined]


def test_bad_bytes_raise_decode_error() -> None:
    with pytest.raises(DecodeError):
        FallMonitor("wearable-1").on_notification(b"\x07garbage", T0)


def scripted(window: float = 30.0, long_lie: float = 300.0) -> FallMonitor:
    return FallMonitor(
        "wearable-1",
        FallAlarmConfig(cancel_window_s=window, long_lie_s=long_lie),
        link_grace_s=0.0,
        detector=ScriptedDetector(impact=T0 + 1.0, confirm_at=T0 + 2.0),
    )


def kinds(findings: list[object]) -> list[str]:
    return [f.kind for f in findings if isinstance(f, Finding)]


def test_fall_alarm_after_the_window_then_long_lie() -> None:
    m = scripted(window=30.0, long_lie=300.0)
    assert kinds(feed(m, 3.0)) == ["fall_confirmed"]
    assert m.state == "pending" and m.in_incident
    assert m.advance(T0 + 30.0) == []
    (alarm,) = m.advance(T0 + 33.0)
    assert (alarm.kind, alarm.alarm, alarm.severity) == (
        "fall_alarm",
        contract.AlarmKind.FALL,
        contract.Severity.HIGH,
    )
    assert alarm.t == pytest.approx(T0 + 2.2 + 30.0)  # confirmation + window
    (lie,) = m.advance(T0 + 302.0)
    assert (lie.kind, lie.alarm, lie.severity) == (
        "long_lie",
        contract.AlarmKind.LONG_LIE,
        contract.Severity.CRITICAL,
    )
    # Two conditions of one incident: the alarm book gives each its own alarm.
    assert lie.on and alarm.on and lie.condition != alarm.condition
    # "Ik ben oke" after both went out withdraws both.
    cancels = m.cancel_pressed(T0 + 310.0)
    assert {(c.condition, c.on) for c in cancels} == {
        (alarm.condition, False),
        (lie.condition, False),
    }
    assert m.state == "idle"


def test_press_inside_the_window_cancels_without_alarm() -> None:
    m = scripted()
    feed(m, 3.0)
    (f,) = m.cancel_pressed(T0 + 10.0)
    assert (f.kind, f.alarm, f.detail["reason"], f.detail["after_alarm"]) == (
        "fall_cancelled",
        None,
        "button",
        False,
    )
    assert m.advance(T0 + 100.0) == []


# -- the pipeline's routing of the pendant's presses ----------------------------------


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=1000, max_bytes=10**7) as s:
        yield s


def pipeline(spool: Spool) -> Pipeline:
    settings = load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        devices=[
            {"id": "pendant-1", "kind": "pendant", "address": PENDANT},
            {"id": "wearable-1", "kind": "wearable", "address": WEARABLE, "mount": "waist"},
        ],
        fall={"cancel_window_s": 30.0},
    )
    health = HealthTracker(((d.id, d.kind, 300.0) for d in settings.devices), T0)
    p = Pipeline(settings, Outbox(spool), health)
    p.fall_monitors["wearable-1"] = scripted()
    return p


def press(p: Pipeline, n: int, kind: ButtonPress, t: float) -> None:
    payload = BTHomePayload(packet_id=n, battery=80, button=kind, trigger_based=True)
    p.handle(encode_advertisement(PENDANT, payload, t=t))


def spooled(spool: Spool) -> list[contract.Message]:
    return [contract.decode(i.topic, i.payload)[1] for i in spool.peek(1000)]


def test_long_press_outside_a_fall_is_still_a_personal_alarm(spool: Spool) -> None:
    p = pipeline(spool)
    press(p, 1, ButtonPress.LONG_PRESS, T0)
    (alarm,) = [m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]
    assert alarm.kind is contract.AlarmKind.PERSONAL


def test_long_press_in_the_window_cancels_and_a_short_press_still_calls_for_help(
    spool: Spool,
) -> None:
    p = pipeline(spool)
    for k in range(15):  # 3 s of wearable frames: the scripted fall is confirmed
        p.handle(Notification(WEARABLE, "x", still_frame(k, k * 0.2), T0 + k * 0.2 + 0.2))
    assert p.fall_monitors["wearable-1"].state == "pending"
    press(p, 1, ButtonPress.LONG_PRESS, T0 + 5.0)
    assert p.fall_monitors["wearable-1"].state == "idle"
    msgs = spooled(spool)
    assert not [m for m in msgs if isinstance(m, contract.AlarmMessage)]
    assert [m.kind for m in msgs if isinstance(m, contract.Event)] == [
        "fall_confirmed",
        "button",
        "fall_cancelled",
    ]
    # A plain press is "help" whatever the wearable says.
    press(p, 2, ButtonPress.PRESS, T0 + 6.0)
    (alarm,) = [m for m in spooled(spool) if isinstance(m, contract.AlarmMessage)]
    assert alarm.kind is contract.AlarmKind.PERSONAL
    # No raw acceleration in the readings: the 1 Hz activity summary only.
    p.flush_batch(T0 + 7.0)
    batches = [m for m in spooled(spool) if isinstance(m, contract.ReadingsBatch)]
    assert {r.quantity for b in batches for r in b.readings if r.sensor == "wearable-1"} == {
        "activity"
    }


def _impact_then_silence(m: FallMonitor) -> list[Finding]:
    """Real frames into `m`: walking, a hard impact at T0 + 10 s and a turn to lying, then
    the wearable stops 2 s after the impact (broken, battery out, out of range)."""
    fs, n = 50.0, 10
    t = np.arange(int(12.0 * fs)) / fs
    a = np.tile([0.0, -1.0, 0.0], (t.size, 1))
    a[:, 1] += 0.25 * np.sin(2 * np.pi * 1.8 * t)
    a[(t >= 9.6) & (t < 10.0)] = [0.0, -0.2, 0.0]  # free fall
    a[(t >= 10.0) & (t < 10.06)] = [2.0, -3.0, 2.0]  # impact
    a[t >= 10.06] = [0.0, 0.0, 1.0]  # lying
    found: list[Finding] = []
    for k in range(int(12.0 * fs) // n):
        chunk = a[k * n : (k + 1) * n]
        frame = encode_frame(frame_from_g(k, 1_000 + round(k * n / fs * 1000), 1 / fs, chunk))
        found += m.on_notification(frame, T0 + (k + 1) * n / fs).findings
    return found


def _never_confirming(silent_s: float = 60.0) -> FallMonitor:
    """The detector's model set never to confirm: only silence or posture can."""
    never = replace(load_params(), bias=-50.0, getup_angle_deg=0.0)
    return FallMonitor(
        "wearable-1",
        FallAlarmConfig(silent_after_impact_s=silent_s),
        link_grace_s=0.0,
        detector=FallDetector(never),
    )


def test_wearable_silent_after_a_hard_impact_raises_a_fall_alarm() -> None:
    m = _never_confirming()
    assert [f.kind for f in _impact_then_silence(m)] == ["impact_suspected"]
    assert m.in_incident  # a long press now would be "ik ben oke"
    last_sample = T0 + 12.0
    assert m.advance(last_sample + 59.0) == []
    (alarm,) = m.advance(last_sample + 61.0)
    assert (alarm.kind, alarm.alarm, alarm.severity) == (
        "fall_alarm",
        contract.AlarmKind.FALL,
        contract.Severity.HIGH,
    )
    assert alarm.detail["reason"] == "silent_after_impact"
    assert alarm.t == pytest.approx(last_sample + 60.0, abs=0.05)
    assert alarm.detail["impact_t"] == pytest.approx(T0 + 10.0, abs=0.1)
    assert m.advance(last_sample + 1800.0) == []  # no long lie without data
    withdrawn = m.cancel_pressed(last_sample + 1900.0)  # "ik ben oke"
    # Both conditions of the incident off; the book cancels the one that is open.
    assert alarm.condition in {w.condition for w in withdrawn if not w.on}
    assert all(not w.on and w.detail["after_alarm"] for w in withdrawn)


def test_wearable_back_within_the_minute_and_lying_is_a_fall() -> None:
    """The wearable reboots 20 s after it went silent; the resident is still lying: the
    detector confirms the fall late and the usual cancel window and alarm follow."""
    m = _never_confirming()
    _impact_then_silence(m)
    assert m.advance(T0 + 30.0) == []  # the detector gave up on the cut window
    lying = np.tile([0.0, 0.0, 1.0], (10, 1))
    found: list[Finding] = []
    for k in range(10):  # a restarted device clock: its own t0
        frame = encode_frame(frame_from_g(k, 50 + 200 * k, 1 / 50.0, lying))
        found += m.on_notification(frame, T0 + 32.2 + 0.2 * k).findings
    assert [f.kind for f in found] == ["fall_confirmed"]
    assert m.state == "pending"
    (alarm,) = [f for f in m.advance(T0 + 70.0) if f.alarm is contract.AlarmKind.FALL]
    assert alarm.detail["reason"] == "cancel_window_elapsed"
    assert alarm.detail["impact_t"] == pytest.approx(T0 + 10.0, abs=0.1)
