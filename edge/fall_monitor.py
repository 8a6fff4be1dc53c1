"""One wearer's fall chain: notification bytes -> detector -> alarm policy -> findings.

    monitor = FallMonitor("wearable-1", FallAlarmConfig(cancel_window_s=30))
    out = monitor.on_notification(frame_bytes, arrival_t)   # findings + activity readings
    monitor.cancel_pressed(t)                              # the pendant's long press
    monitor.advance(now)                                   # every agent tick

Pure (time comes in as arguments, like the detectors it wraps): it owns the wearable
decoder state (`DeviceClock`), the mapping from the wearable's clock to UNIX time, a
`FallDetector` and a `FallAlarmPolicy`, and turns their outputs into the agent's
`Finding`s: fall events (`impact_suspected`, `fall_confirmed`, `fall_cancelled`,
`fall_recovered`) and the alarms (`fall` high, `long_lie` critical, and their
cancellation when the resident says they are fine after the alarm went out).

The raw accelerometer stream never goes to the hub (200 Hz x 3 axes is ~50 MB a day per
wearer on a metered mobile link); only a 1 Hz `activity` reading: the RMS of |a| - 1 g
over each second, in g (0.00-0.02 lying still, ~0.1-0.3 walking), enough for the console
to show that the wearable is worn and how active the resident is.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from edge.detection import DetailValue, Finding
from edge.detectors.fall import FallDetector, FallEvent, FallEventKind
from edge.detectors.fall_alarm import (
    AlarmDecision,
    DecisionKind,
    FallAlarmConfig,
    FallAlarmPolicy,
)
from edge.detectors.fall_alarm import Severity as PolicySeverity
from sensors.codecs.wearable import AccelFrame, DeviceClock, decode_frame
from sensors.contract import AlarmKind, Severity
from sensors.readings import Reading

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# The alarm book's rules (detector "fall", per wearable) are per incident, named after
# the alarm kind and the impact time: a second fall while the first one's alarm is still
# open (nobody has cancelled it) is a new alarm, not a repeat.
FALL_DETECTOR: Final = "fall"


def incident_rule(kind: AlarmKind, impact_t: float) -> str:
    return f"{kind.value}@{impact_t:.3f}"


ACTIVITY_QUANTITY: Final = "activity"
ACTIVITY_PERIOD_S: Final = 1.0
# A frame whose first sample is this far before the previous one: the wearable restarted
# (its clock began again), so the clock mapping is re-anchored.
_RESTART_S: Final = 1.0
# A frame arriving this much later than its samples' mapped time: the mapping has gone
# stale (the device clock stalled or drifted while disconnected); re-anchor.
_MAX_LAG_S: Final = 10.0

_SEVERITY: Final = {
    PolicySeverity.HIGH: Severity.HIGH,
    PolicySeverity.CRITICAL: Severity.CRITICAL,
    PolicySeverity.INFO: Severity.LOW,
}


@dataclass(frozen=True, slots=True)
class FallOutput:
    findings: tuple[Finding, ...] = ()
    readings: tuple[Reading, ...] = ()


class WearableClock:
    """Maps a wearable's sample times (device clock) to UNIX seconds.

    The offset is anchored on the first frame (arrival minus the device time of its last
    sample, i.e. the link latency is taken as zero) and lowered whenever a frame arrives
    "earlier" than the mapping predicts, so it converges on the smallest latency seen.
    Per-sample spacing therefore comes from the device clock (true to the sensor), while
    the absolute time matches the agent's clock, so `advance(now)` and the pendant's
    button share one time line with the samples.
    """

    __slots__ = ("_clock", "_last_dev", "_offset", "reanchored")

    def __init__(self) -> None:
        self._clock = DeviceClock()
        self._offset: float | None = None
        self._last_dev = -math.inf
        self.reanchored = 0

    def times(self, frame: AccelFrame, arrival: float) -> FloatArray:
        dev = self._clock.sample_times(frame)
        if self._offset is not None and float(dev[0]) < self._last_dev - _RESTART_S:
            self._clock = DeviceClock()
            dev = self._clock.sample_times(frame)
            self._offset = None
        last = float(dev[-1])
        if self._offset is None:
            self._offset = arrival - last
        else:
            lag = arrival - (last + self._offset)
            if lag < 0 or lag > _MAX_LAG_S:
                if lag > _MAX_LAG_S:
                    self.reanchored += 1
                    log.info("wearable clock mapping re-anchored (lag %.1f s)", lag)
                # Lowering the offset moves later samples slightly back in time; the
                # detector drops the few that would go back past its last sample.
                self._offset = arrival - last
        self._last_dev = last
        return dev + self._offset


class _Activity:
    """Sum of (|a| - 1 g)^2 per whole second; emits the RMS when the second is over."""

    __slots__ = ("_bucket", "_n", "_sum")

    def __init__(self) -> None:
        self._bucket: float | None = None
        self._sum = 0.0
        self._n = 0

    def add(self, sensor: str, t: FloatArray, a: FloatArray) -> list[Reading]:
        out: list[Reading] = []
        dev = np.abs(np.linalg.norm(a, axis=1) - 1.0)
        finite = np.isfinite(dev) & np.isfinite(t)
        t, dev = t[finite], dev[finite]
        if t.size == 0:
            return out
        buckets = np.floor(t / ACTIVITY_PERIOD_S) * ACTIVITY_PERIOD_S
        for b in np.unique(buckets):
            sel = dev[buckets == b]
            bf = float(b)
            if self._bucket is not None and bf != self._bucket:
                if self._n:
                    out.append(self._reading(sensor))
                self._sum, self._n = 0.0, 0
            self._bucket = bf
            self._sum += float(np.dot(sel, sel))
            self._n += int(sel.size)
        return out

    def _reading(self, sensor: str) -> Reading:
        assert self._bucket is not None
        rms = math.sqrt(self._sum / self._n)
        return Reading(sensor, ACTIVITY_QUANTITY, self._bucket + ACTIVITY_PERIOD_S, round(rms, 4))


def _finite(x: float) -> float | None:
    """The wire refuses NaN: a measure the detector could not compute travels as null."""
    return round(x, 3) if math.isfinite(x) else None


class FallMonitor:
    """One wearable's decoder, detector and alarm policy. Feed it in time order."""

    def __init__(
        self,
        sensor: str,
        config: FallAlarmConfig | None = None,
        *,
        link_grace_s: float = 1.0,
        detector: FallDetector | None = None,
    ) -> None:
        self.sensor = sensor
        self.config = config or FallAlarmConfig()
        self.detector = detector or FallDetector()
        self.policy = FallAlarmPolicy(self.config)
        self.link_grace_s = link_grace_s
        self._clock = WearableClock()
        self._activity = _Activity()
        # An alarm went out in this incident (its id is the alarm book's business).
        self._raised = False
        self.frames = 0
        self.last_sequence: int | None = None
        self.lost_frames = 0

    @property
    def state(self) -> str:
        """The policy's state: idle, pending (cancel window running), alarmed, done."""
        return self.policy.state

    @property
    def in_incident(self) -> bool:
        """A fall is suspected, pending or raised: a long press now means "ik ben oke"."""
        return self.policy.state != "idle" or self.policy.suspecting

    # -- input ------------------------------------------------------------------------

    def on_notification(self, data: bytes, arrival: float) -> FallOutput:
        """One accelerometer notification; raises DecodeError on malformed bytes."""
        frame = decode_frame(data)
        self.frames += 1
        if self.last_sequence is not None:
            # Sequence gaps are frames lost on the link; the detector copes with gaps.
            self.lost_frames += (frame.sequence - self.last_sequence - 1) % 65536
        self.last_sequence = frame.sequence
        t = self._clock.times(frame, arrival)
        a = frame.accel_g()
        readings = self._activity.add(self.sensor, t, a)
        findings = self._from_events(self.detector.update(t, a))
        if t.size:
            self.policy.heard(float(np.max(t)))
        return FallOutput(tuple(findings), tuple(readings))

    def cancel_pressed(self, t: float) -> list[Finding]:
        """The resident's "ik ben oke" (the pendant's long press) at `t`."""
        return self._from_decisions(self.policy.cancel_pressed(t))

    def advance(self, now: float) -> list[Finding]:
        """Time passes: decide candidates the silence has made due; run the alarm timers."""
        t = now - self.link_grace_s
        findings = self._from_events(self.detector.advance(t))
        findings.extend(self._from_decisions(self.policy.advance(t)))
        return findings

    # -- output -----------------------------------------------------------------------

    def _from_events(self, events: list[FallEvent]) -> list[Finding]:
        out: list[Finding] = []
        for ev in events:
            if ev.kind is FallEventKind.IMPACT_SUSPECTED:
                out.append(self._finding("impact_suspected", ev.time, _event_detail(ev)))
            elif ev.kind is FallEventKind.FALL_CONFIRMED:
                detail = _event_detail(ev)
                detail["cancel_window_s"] = self.config.cancel_window_s
                out.append(self._finding("fall_confirmed", ev.time, detail))
            # FALL_CANCELLED (got up) shows as the policy's decision below.
            out.extend(self._from_decisions(self.policy.on_events([ev])))
        return out

    def _from_decisions(self, decisions: list[AlarmDecision]) -> list[Finding]:
        out: list[Finding] = []
        for d in decisions:
            detail: dict[str, DetailValue] = {
                "reason": d.reason,
                "impact_t": round(d.impact_time, 3),
                "peak_g": _finite(d.peak_g),
            }
            match d.kind:
                case DecisionKind.RAISE_FALL_ALARM:
                    self._raised = True
                    out.append(
                        self._finding(
                            "fall_alarm",
                            d.time,
                            detail,
                            alarm=AlarmKind.FALL,
                            severity=_SEVERITY[d.severity],
                            rule=incident_rule(AlarmKind.FALL, d.impact_time),
                        )
                    )
                case DecisionKind.RAISE_LONG_LIE:
                    self._raised = True
                    out.append(
                        self._finding(
                            "long_lie",
                            d.time,
                            detail,
                            alarm=AlarmKind.LONG_LIE,
                            severity=_SEVERITY[d.severity],
                            rule=incident_rule(AlarmKind.LONG_LIE, d.impact_time),
                        )
                    )
                case DecisionKind.CANCEL:
                    if self._raised:
                        self._raised = False
                        out.extend(self.withdraw(d.time, d.impact_time, detail))
                    else:  # cancelled inside the window: nothing was raised, only the event
                        out.append(
                            self._finding(
                                "fall_cancelled", d.time, {**detail, "after_alarm": False}
                            )
                        )
                case DecisionKind.RECOVERED:
                    # Up again after the alarm: the long-lie escalation stops, but a raised
                    # fall alarm stays (someone should still check on a person who fell).
                    out.append(self._finding("fall_recovered", d.time, detail))
        return out

    def withdraw(self, t: float, impact_t: float, detail: dict[str, DetailValue]) -> list[Finding]:
        """The resident says they are fine after the alarm went out: the fall and long-lie
        conditions of the incident are off (the alarm book cancels whichever is open)."""
        return [
            self._finding(
                event,
                t,
                {**detail, "after_alarm": True},
                alarm=kind,
                severity=Severity.HIGH if kind is AlarmKind.FALL else Severity.CRITICAL,
                on=False,
                rule=incident_rule(kind, impact_t),
            )
            for event, kind in (
                ("fall_cancelled", AlarmKind.FALL),
                ("long_lie_cancelled", AlarmKind.LONG_LIE),
            )
        ]

    def _finding(
        self,
        kind: str,
        t: float,
        detail: dict[str, DetailValue],
        *,
        alarm: AlarmKind | None = None,
        severity: Severity = Severity.HIGH,
        on: bool = True,
        rule: str | None = None,
    ) -> Finding:
        return Finding(
            kind=kind,
            t=t,
            sensor=self.sensor,
            detail=detail,
            alarm=alarm,
            severity=severity,
            on=on,
            rule=rule,
        )


def _event_detail(ev: FallEvent) -> dict[str, DetailValue]:
    return {
        "impact_t": round(ev.impact_time, 3),
        "peak_g": _finite(ev.peak_g),
        "score": _finite(ev.score),
        "orientation_change_deg": _finite(ev.orientation_change_deg),
        "stillness_g": _finite(ev.stillness_g),
    }
