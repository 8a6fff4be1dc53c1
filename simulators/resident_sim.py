"""A simulated resident in a simulated dwelling: `simulators.residents` on real devices.

The residents' generators produce ambient events (`AmbientEvent`, in the homes dataset's
sensor vocabulary) and vital-sign spot checks for whole days. Here they are laid on the
wall clock from the dwelling's start (a resident's 07:10 is the next real 07:10 in the
dwelling's time zone; the scenario's `speed` compresses the wait), restricted to the
sensors the scenario installed, and turned into device actions: an ambient sensor's
state change, or one gateway line per spot check.

`prelearn` gives the agent a learned routine to start from: it runs the real routine
detector over `learned_days` generated days before the start and writes the model where
the agent loads it (`EdgeSettings.routine_state_path`), unless the dwelling already has
one (its own learned state always wins).

Pure except `prelearn`'s one file write.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from edge.config import EdgeSettings
from edge.detectors.routine import AmbientEvent, RoutineDetector
from edge.detectors.routine_model import RoutineModel
from edge.detectors.vitals import Quantity, Source, VitalReading
from edge.routine_adapter import save_model
from simulators.residents import routine as routine_gen
from simulators.residents import vitals as vitals_gen
from simulators.scenario import SimResident

log = logging.getLogger(__name__)

# (scenario seconds, device id, state for an ambient sensor | (values, status) for a line)
Action = tuple[float, str, bool | tuple[dict[str, float], int]]

_LINE_KEY: Final = {
    Quantity.SBP: "sbp",
    Quantity.DBP: "dbp",
    Quantity.HR: "hr",
    Quantity.SPO2: "spo2",
    Quantity.TEMP: "temperature",
    Quantity.WEIGHT: "weight",
}


def _days(start: float, horizon_s: float, tz: str) -> tuple[datetime, int]:
    local = datetime.fromtimestamp(start, ZoneInfo(tz))
    return local, math.ceil(horizon_s / 86400.0) + 1


def plan_resident(
    settings: EdgeSettings, spec: SimResident, start: float, horizon_s: float
) -> list[Action]:
    """The resident's device actions from `start` for `horizon_s` seconds, in time order."""
    local, days = _days(start, horizon_s, settings.timezone)
    end = start + horizon_s
    out: list[Action] = []
    state: dict[str, bool] = {}
    for ev in routine_gen.generate(local.date(), days, spec.seed, settings.timezone):
        device = spec.sensors.get(ev.sensor)
        if device is None:
            continue  # not installed in this dwelling
        if ev.t < start:
            state[device] = bool(ev.value)  # the state the sensor is in at the start
        elif ev.t < end:
            out.append((ev.t - start, device, bool(ev.value)))
    # Sensors start in the state the resident's night or day left them in.
    out[:0] = [(0.0, device, on) for device, on in sorted(state.items())]
    if spec.vitals is not None:
        params = vitals_gen.VitalsParams(wearable_every_s=None)
        for r in vitals_gen.generate(local.date(), days, spec.seed, settings.timezone, params):
            if start <= r.t < end and r.source is Source.SPOT and r.quantity in _LINE_KEY:
                out.append((r.t - start, spec.vitals, _line(r)))
    out.sort(key=lambda a: a[0])
    return out


def _line(r: VitalReading) -> tuple[dict[str, float], int]:
    return {_LINE_KEY[r.quantity]: r.value}, r.status


def prelearn(settings: EdgeSettings, spec: SimResident, start: float) -> bool:
    """Learn `spec.learned_days` of the resident's routine before `start` and write it to
    the agent's routine state file; False when the dwelling already has learned state."""
    path = settings.routine_state_path
    if path.exists():
        return False
    rooms = {d.id: (d.role, d.room) for d in settings.devices if d.role and d.room}
    tz = settings.timezone
    first = datetime.fromtimestamp(start, ZoneInfo(tz)).date() - timedelta(spec.learned_days)
    events = [
        ev
        for ev in routine_gen.generate(first, spec.learned_days + 1, spec.seed, tz)
        if ev.t < start and spec.sensors.get(ev.sensor) in rooms
    ]
    if not events:
        return False
    from edge.routine_adapter import KIND_BY_ROLE  # the agent's own role mapping

    detector = RoutineDetector(RoutineModel(), tz, events[0].t - 1.0)
    for ev in events:
        device = spec.sensors[ev.sensor]
        role, room = rooms[device]
        assert role is not None and room is not None
        detector.update([AmbientEvent(ev.t, device, KIND_BY_ROLE[role], room, ev.value)])
    detector.advance(start)
    save_model(path, detector.model)
    log.info("resident: %d days of routine pre-learned into %s", len(detector.model.days), path)
    return True
