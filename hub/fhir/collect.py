"""The FHIR resources of one disclosure: what the time-series store and the alarm store
hold of the resident in the disclosure's window and categories, as hub.fhir.resources
builds them (the Patient, a Device per sensor, Observations, Flags, a Provenance per
device). Reads only; the disclosure was audited before (hub.fhir.consent)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from fhir.resources.R4B.device import Device
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource

from alerts.model import AlarmRecord
from hub.api.overview import BODY_TEMPERATURE, NEWS2_KINDS, news2
from hub.context import DwellingHealth
from hub.fhir import codes, resources
from hub.fhir.consent import ALARMS, NEWS2, VITAL_SIGNS, Disclosure
from hub.fhir.resources import Made, Sensor, Subject
from hub.presence import DwellingState
from hub.storage.base import Point, TimeSeriesStore

MAX_EVENTS: Final = 10_000
MAX_ALARMS: Final = 10_000
# Who made what no sensor of its own measured: the edge agent's NEWS2 calculation, and
# the hub's own technical alarms.
EDGE_AGENT: Final = Sensor("edge-agent", "news2-calculator")
HUB: Final = Sensor("hub", "hub")


class AlarmSource(Protocol):
    def dwelling_since(self, dwelling: str, since: float, limit: int) -> list[AlarmRecord]: ...


@dataclass(frozen=True, slots=True)
class Collected:
    resources: tuple[Resource, ...]
    # Observations and Flags only (the resident's data, not the Patient, Devices or
    # Provenances that go with them): what the counts in the audit trail and logs say.
    data: int


@dataclass(slots=True)
class _Scope:
    """One disclosure's subject, window and the Devices made so far (one per sensor)."""

    subject: Subject
    patient: Patient
    kinds: Mapping[str, str]
    start: float
    end: float
    devices: dict[str, Device] = field(default_factory=dict)

    def sensor(self, sensor: str | None, otherwise: Sensor) -> Sensor:
        return Sensor(sensor, self.kinds.get(sensor, "")) if sensor else otherwise

    def device(self, sensor: Sensor) -> Device:
        if sensor.sensor not in self.devices:
            self.devices[sensor.sensor] = resources.device(self.subject, sensor)
        return self.devices[sensor.sensor]


async def collect(
    disclosure: Disclosure,
    store: TimeSeriesStore,
    alarms: AlarmSource | None,
    kinds: Mapping[str, str],
    recorded: float,
    *,
    only: Callable[[Resource], bool] | None = None,
) -> Collected:
    """`kinds`: each sensor's kind as the dwelling's status said (hub.presence)."""
    c = disclosure.consent
    subject = Subject(c.dwelling, c.institution, disclosure.patient_id)
    scope = _Scope(subject, resources.patient(subject), kinds, disclosure.start, disclosure.end)
    made: list[Made] = []
    if VITAL_SIGNS in disclosure.categories:
        # The (sensor, quantity) series the dwelling has, from their newest points.
        wanted = {*codes.VITALS, *codes.BLOOD_PRESSURE}
        have: dict[str, set[str]] = {}
        for p in await store.latest(c.dwelling):
            if p.quantity in wanted:
                have.setdefault(p.sensor, set()).add(p.quantity)
        for sensor, quantities in sorted(have.items()):
            made += await _vitals(store, scope, scope.sensor(sensor, EDGE_AGENT), quantities)
    if NEWS2 in disclosure.categories:
        made += await _news2(store, scope)
    if ALARMS in disclosure.categories and alarms is not None:
        made += await _alarms(alarms, scope)
    if only is not None:
        made = [m for m in made if only(m.resource)]
    if not made:
        return Collected((), 0)
    by_sensor: dict[str, list[Resource]] = {}
    for m in made:
        by_sensor.setdefault(m.sensor, []).append(m.resource)
    used = [scope.devices[s] for s in sorted(by_sensor)]
    provenances = [
        resources.provenance(subject, scope.devices[s], targets, recorded)
        for s, targets in sorted(by_sensor.items())
    ]
    data = [m.resource for m in made]
    return Collected((scope.patient, *used, *data, *provenances), len(data))


async def _vitals(
    store: TimeSeriesStore, scope: _Scope, sensor: Sensor, quantities: set[str]
) -> list[Made]:
    out: list[Made] = []
    series: dict[str, list[Point]] = {}
    for quantity in sorted(quantities):
        points = await store.series(
            scope.subject.dwelling, sensor.sensor, quantity, scope.start, scope.end
        )
        if points:
            series[quantity] = points
    room = series.get("temperature")
    if room is not None:
        low, high = BODY_TEMPERATURE
        if not low <= statistics.median(p.value for p in room) <= high:
            del series["temperature"]  # room air, not the resident (hub.api.overview)
    if not series:
        return out
    subject, pat, device = scope.subject, scope.patient, scope.device(sensor)
    for quantity, vital in codes.VITALS.items():
        for p in series.get(quantity, ()):
            obs = resources.vital(subject, pat, device, quantity, vital, p.t, p.value)
            out.append(Made(obs, sensor.sensor))
    systolic = {p.t: p.value for p in series.get("sbp", ())}
    for p in series.get("dbp", ()):
        if p.t in systolic:
            bp = resources.blood_pressure(subject, pat, device, p.t, systolic[p.t], p.value)
            out.append(Made(bp, sensor.sensor))
    return out


async def _news2(store: TimeSeriesStore, scope: _Scope) -> list[Made]:
    out: list[Made] = []
    seen: set[tuple[float, int]] = set()
    events = await store.events(
        scope.subject.dwelling, scope.start, scope.end, MAX_EVENTS, kinds=NEWS2_KINDS
    )
    for event in sorted(events, key=lambda e: (e.ts, e.id)):
        n = news2(event)
        if n.score is None or (n.ts, n.score) in seen:
            continue  # a vitals alarm repeats the band change's result
        seen.add((n.ts, n.score))
        sensor = scope.sensor(event.sensor, EDGE_AGENT)
        result = resources.News2Result(
            event.id, n.ts, n.score, n.band, n.partial, n.missing, n.subscores
        )
        obs = resources.news2(scope.subject, scope.patient, scope.device(sensor), result)
        out.append(Made(obs, sensor.sensor))
    return out


async def _alarms(source: AlarmSource, scope: _Scope) -> list[Made]:
    out: list[Made] = []
    records = await asyncio.to_thread(
        source.dwelling_since, scope.subject.dwelling, scope.start, MAX_ALARMS
    )
    for a in sorted(records, key=lambda r: (r.raised_at, r.id)):
        if not scope.start <= a.raised_at < scope.end:
            continue
        sensor = scope.sensor(a.sensor, HUB if a.source == "hub" else EDGE_AGENT)
        facts = resources.AlarmFacts(
            a.id, a.kind.value, a.severity.value, a.raised_at, a.resolved_at
        )
        flag = resources.alarm(scope.subject, scope.patient, scope.device(sensor), facts)
        out.append(Made(flag, sensor.sensor))
    return out


def sensor_kinds(states: Sequence[DwellingState | DwellingHealth], dwelling: str) -> dict[str, str]:
    """sensor -> kind, from hub.presence's dwelling states (what the statuses said)."""
    for state in states:
        if state.dwelling == dwelling:
            return {s.sensor: s.kind for s in state.sensors}
    return {}
