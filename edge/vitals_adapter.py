"""The vital-signs pipeline (NEWS2) in the agent: spot-check readings in, findings out.

Only devices configured with `role = "vitals"` feed it: the same BTHome `temperature`
object is body temperature from a thermometer but room climate from a room sensor, and
room air must never be scored as a fever. Their readings also go to the hub as ordinary
readings (the console's trends); here they are mapped onto the pipeline's quantities:

| reading quantity | from | NEWS2 quantity |
|---|---|---|
| `temperature` | BTHome thermometer (object 0x02/0x45), degC | temp |
| `weight` | BTHome scale (object 0x06 mass), kg | weight (trends only) |
| `hr`, `spo2` | pulse oximeter (serial line `sensors.codecs.vitals_line`) | hr, spo2 |
| `sbp`, `dbp` | blood-pressure cuff (same line format), mmHg | sbp, dbp |
| `hr`, `spo2` | wearable: GATT Heart Rate, PLX Continuous (`ble_health`) | hr, spo2 (windowed) |
| `status` | device status bits of the same frame (non-zero: invalid) | - |

A wearable with `role = "vitals"` is a continuous source: its readings go into the
pipeline as `Source.CONTINUOUS` (a windowed median), the others as spot checks. A
continuous source repeats an unusable reading every second while, say, the band is off
the wrist, so its `reading_invalid` is reported when a run of them starts: the first of a
sensor, quantity and reason after `INVALID_GAP_S` without one. (Not "until a usable
reading": a strap's good heart rate and an oximeter's flagged pulse rate may alternate.)

Findings: `news2_band_changed` events (flat numbers: score, band, partial, missing) and,
in the same band, `news2_updated` when the score or the parameters present change (a new
parameter at once, other changes at most every 10 min, so the hub's latest NEWS2 is
current); `vitals` alarms raised with the pipeline's severity (>= 5 or a single 3: high;
>= 7: critical), escalated with a new alarm when the severity rises, cancelled when it
drops to none; invalid readings as `reading_invalid` events. The alarm is a condition
(`NEWS2_RULE`) in the agent's alarm book, which keeps its ids: the adapter also says
"off" after every reading that leaves a score with something measured and no alarm
severity, so an alarm a previous run raised is cancelled once fresh vitals are fine.

The values the score uses (`VitalsPipeline.in_use`: per quantity the freshest spot check
or continuous window) are saved (`state_path`, `vitals.json` beside the trends) whenever
a spot check is taken or the alarm's severity changes, and restored at the start as spot
checks: they count until they age out or a fresher value replaces them. Without it, one
fine temperature after a restart scored alone and cancelled the alarm a low SpO2 had
raised an hour earlier; and saving the spot checks alone would bring back a low one that a
band's window had already replaced (and the alarm it raised with it). A band's window
value counts like a spot check after a restart, until the band's next window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from edge.care_plan import CarePlan, care_plan
from edge.config import EdgeSettings
from edge.detection import DetailValue, Finding
from edge.detectors.news2 import News2Score, Param, SpO2Scale
from edge.detectors.vitals import (
    Quantity,
    Source,
    VitalReading,
    VitalsConfig,
    VitalsFinding,
    VitalsFindingKind,
    VitalsPipeline,
)
from edge.state_file import read_state, set_aside, write_atomic
from sensors.contract import MAX_DETAIL_KEYS, Severity
from sensors.readings import Reading

log = logging.getLogger(__name__)

NEWS2_RULE: Final = "news2"  # the alarm book's rule for the vitals alarm
STATE_VERSION: Final = 1
INVALID_GAP_S: Final = 300.0  # continuous: a new run of unusable readings after this long

QUANTITY: Final[dict[str, Quantity]] = {
    "temperature": Quantity.TEMP,
    "weight": Quantity.WEIGHT,
    "hr": Quantity.HR,
    "spo2": Quantity.SPO2,
    "sbp": Quantity.SBP,
    "dbp": Quantity.DBP,
    "rr": Quantity.RR,
}


def vitals_sources(settings: EdgeSettings) -> tuple[frozenset[str], frozenset[str]]:
    """(every vital-signs device, the continuous ones among them: vitals wearables)."""
    vitals = [d for d in settings.devices if d.role == "vitals" or d.kind == "vitals"]
    return frozenset(d.id for d in vitals), frozenset(d.id for d in vitals if d.kind == "wearable")


def vital_readings(
    readings: Sequence[Reading], sensors: frozenset[str], continuous: frozenset[str]
) -> list[VitalReading]:
    """The vital-sign readings of `sensors` in one device frame; a frame's `status`
    reading flags every measurement of that frame."""
    mine = [r for r in readings if r.sensor in sensors]
    if not mine:
        return []
    status = next((int(r.value) for r in mine if r.quantity == "status"), 0)
    return [
        VitalReading(
            r.t,
            QUANTITY[r.quantity],
            r.value,
            Source.CONTINUOUS if r.sensor in continuous else Source.SPOT,
            sensor=r.sensor,
            status=status,
        )
        for r in mine
        if r.quantity in QUANTITY
    ]


def load_spot(path: Path) -> list[tuple[Quantity, float, float]]:
    """The values in use a previous run saved (`save_spot`); [] for none or an unreadable
    file (set aside as `<name>.bad`, logged)."""
    text = read_state(path, "vitals")
    if text is None:
        return []
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError("not a vitals state file of version 1")
        spot = raw["spot"]
        if not isinstance(spot, dict):
            raise ValueError("spot is not an object")
        return [(Quantity(q), float(tv[0]), float(tv[1])) for q, tv in spot.items()]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        set_aside(path, "vitals", exc)
        return []


def save_spot(path: Path, pipeline: VitalsPipeline) -> None:
    """The values in use, atomically: a crash leaves the old file or the new one."""
    spot = {q.value: [t, v] for q, t, v in pipeline.in_use()}
    write_atomic(path, json.dumps({"version": STATE_VERSION, "spot": spot}))


def _vitals_measured(n: News2Score) -> bool:
    """A vital sign was scored (air or oxygen is the care plan's, not a measurement)."""
    return any(p is not Param.O2 for p, _ in n.measured)


class VitalsAdapter:
    """`edge.detection.Detector` around `VitalsPipeline`."""

    def __init__(
        self,
        sensors: frozenset[str],
        config: VitalsConfig | None = None,
        *,
        continuous: frozenset[str] = frozenset(),
        state_path: Path | None = None,
        now: float | None = None,
    ) -> None:
        """`state_path`: where the values in use are kept across restarts (None: not
        kept); `now`: the agent's clock at the start (restored values ahead of it or too
        old are left out)."""
        self.sensors = sensors
        self.continuous = continuous
        self.pipeline = VitalsPipeline(config)
        self.state_path = state_path
        if state_path is not None:
            restored = self.pipeline.restore_spot(load_spot(state_path), now)
            if restored:
                log.info("vitals: %d values from before the restart", restored)
        # (sensor, quantity) -> (reason, time) of the last unusable continuous reading
        self._invalid_run: dict[tuple[str, str], tuple[str, float]] = {}
        self.invalid_suppressed = 0

    @classmethod
    def from_settings(
        cls, settings: EdgeSettings, now: float | None = None
    ) -> VitalsAdapter | None:
        sensors, continuous = vitals_sources(settings)
        if not sensors:
            return None
        plan = care_plan(settings)
        return cls(
            sensors,
            VitalsConfig(scale=plan.spo2_scale, on_oxygen=plan.on_oxygen),
            continuous=continuous,
            state_path=settings.vitals_state_path,
            now=now,
        )

    def apply_care_plan(self, plan: CarePlan) -> None:
        """The hub changed the care plan (edge.commands): scored with it from now on."""
        cfg = self.pipeline.cfg
        self.pipeline.cfg = replace(cfg, scale=plan.spo2_scale, on_oxygen=plan.on_oxygen)

    @property
    def name(self) -> str:
        return "vitals"

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        vitals = vital_readings(readings, self.sensors, self.continuous)
        if not vitals:
            return []
        found: list[VitalsFinding] = []
        spot, severity = dict(self.pipeline.spot), self.pipeline.severity
        for v in vitals:
            if v.source is Source.CONTINUOUS:
                found.extend(self._continuous(v))
            else:
                found.extend(self.pipeline.update([v]))
        if self.pipeline.spot != spot or self.pipeline.severity != severity:
            self.save()
        last = self.pipeline.last
        if self.pipeline.severity is None and last is not None and _vitals_measured(last):
            # The level: fine now (a no-op for the book unless an alarm is open).
            found.append(
                VitalsFinding(
                    self.pipeline.now, VitalsFindingKind.ALARM, "cancel", None, news2=last
                )
            )
        return self._findings(found)

    def save(self) -> None:
        """The values in use to `state_path`; a failure is logged (kept in memory)."""
        if self.state_path is None:
            return
        try:
            save_spot(self.state_path, self.pipeline)
        except OSError as exc:
            log.error("vitals: cannot save state to %s: %s", self.state_path, exc)

    def _continuous(self, v: VitalReading) -> list[VitalsFinding]:
        """One continuous reading; its `reading_invalid` only when a run begins."""
        key = (v.sensor, v.quantity.value)
        out: list[VitalsFinding] = []
        for f in self.pipeline.update([v]):
            if f.kind is not VitalsFindingKind.READING_INVALID:
                out.append(f)
                continue
            reason = str(dict(f.detail).get("reason", ""))
            last = self._invalid_run.get(key)
            self._invalid_run[key] = (reason, v.t)
            if last is not None and last[0] == reason and 0 <= v.t - last[1] <= INVALID_GAP_S:
                self.invalid_suppressed += 1
                continue
            out.append(f)
        return out

    def _measured(self, n: News2Score, room: int) -> dict[str, DetailValue]:
        """What was measured, beside the points (the console reads "88 % (3 punten)"):
        `val_<param>`, the diastolic pressure with the systolic, and the SpO2 scale in use;
        left out whole rather than push the detail past the wire contract's key limit."""
        out: dict[str, DetailValue] = {f"val_{p.value}": round(m, 2) for p, m in n.measured}
        dbp = self.pipeline.value(Quantity.DBP)
        if dbp is not None and "val_sbp" in out:
            out["val_dbp"] = round(dbp, 1)  # not scored; read with the systolic
        out["spo2_scale"] = 2 if self.pipeline.cfg.scale is SpO2Scale.SCALE_2 else 1
        return out if len(out) <= room else {}

    def advance(self, t: float) -> Sequence[Finding]:
        severity = self.pipeline.severity
        found = self._findings(self.pipeline.advance(t))
        if self.pipeline.severity != severity:
            self.save()  # a spot check aged out and the alarm changed: what it rests on
        return found

    def _findings(self, found: Sequence[VitalsFinding]) -> list[Finding]:
        out: list[Finding] = []
        for f in found:
            detail: dict[str, DetailValue] = dict(f.detail[:20])
            if f.news2 is not None:
                n = f.news2
                detail |= {
                    "score": n.score,
                    "band": n.band.value,
                    "red_flag": n.red_flag,
                    "partial": n.partial,
                    "missing": ",".join(p.value for p in n.missing)[:200],
                }
                detail |= {f"sub_{p.value}": s for p, s in n.subscores}
                detail |= self._measured(n, MAX_DETAIL_KEYS - len(detail) - 1)
            if f.previous_band is not None:
                detail["previous_band"] = f.previous_band.value
            if f.kind is VitalsFindingKind.ALARM:
                # Escalation is a new alarm (the hub routes by severity at raise time): the
                # book raises one when the severity is above the open one's.
                raised = f.action == "raise" and f.severity is not None
                out.append(
                    Finding(
                        "vitals_alarm" if raised else "vitals_alarm_cancelled",
                        f.t,
                        None,
                        detail,
                        f.alarm_kind,
                        f.severity or Severity.HIGH,
                        on=raised,
                        rule=NEWS2_RULE,
                    )
                )
            else:
                out.append(Finding(f.kind.value, f.t, f.sensor, detail))
        return out
