"""The FHIR resources of one disclosure: what the time-series store and the alarm store
hold of the resident in the disclosure's window and categories, as hub.fhir.resources
builds them (the Patient, a Device per sensor, Observations, Flags, a Provenance per
device). Reads only; the disclosure was audited before (hub.fhir.consent)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    pat = resources.patient(subject)
    devices: dict[str, Device] = {}

    def dev(sensor: Sensor) -> Device:
        if sensor.sensor not in devices:
            devices[sensor.sensor] = resources.device(subject, sensor)
        return devices[sensor.sensor]

    made: list[Made] = []
    start, end = disclosure.start, disclosure.end
    if VITAL_SIGNS in disclosure.categories:
        for sensor in await store.sensors(c.dwelling):
            made += await _vitals(
                store, subject, pat, dev, Sensor(sensor, kinds.get(sensor, "")), start, end
            )
    if NEWS2 in disclosure.categories:
        made += await _news2(store, subject, pat, dev, kinds, start, end)
    if ALARMS in disclosure.categories and alarms is not None:
        made += _alarms(alarms, subject, pat, dev, kinds, start, end)
    if only is not None:
        made = [m for m in made if only(m.resource)]
    by_sensor: dict[str, list[Resource]] = {}
    for m in made:
        by_sensor.setdefault(m.sensor, []).append(m.resource)
    provenances = [
        resources.provenance(subject, devices[s], targets, recorded)
        for s, targets in sorted(by_sensor.items())
    ]
    used = [devices[s] for s in sorted(by_sensor)]
    data = [m.resource for m in made]
    if not data:
        return Collected((), 0)
    return Collected((pat, *used, *data, *provenances), len(data))


DeviceOf = Callable[[Sensor], Device]


async def _vitals(
    store: TimeSeriesStore,
    subject: Subject,
    pat: Patient,
    dev: DeviceOf,
    sensor: Sensor,
    start: float,
    end: float,
) -> list[Made]:
    out: list[Made] = []
    series: dict[str, list[Point]] = {}
    for quantity in (*codes.VITALS, *codes.BLOOD_PRESSURE):
        points = await store.series(subject.dwelling, sensor.sensor, quantity, start, end)
        if points:
            series[quantity] = points
    room = series.get("temperature")
    if room is not None:
        low, high = BODY_TEMPERATURE
        if not low <= statistics.median(p.value for p in room) <= high:
            del series["temperature"]  # room air, not the resident (hub.api.overview)
    if not series:
        return out
    device = dev(sensor)
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


async def _news2(
    store: TimeSeriesStore,
    subject: Subject,
    pat: Patient,
    dev: DeviceOf,
    kinds: Mapping[str, str],
    start: float,
    end: float,
) -> list[Made]:
    out: list[Made] = []
    seen: set[tuple[float, int]] = set()
    events = await store.events(subject.dwelling, start, end, MAX_EVENTS, kinds=NEWS2_KINDS)
    for event in sorted(events, key=lambda e: (e.ts, e.id)):
        n = news2(event)
        if n.score is None or (n.ts, n.score) in seen:
            continue  # a vitals alarm repeats the band change's result
        seen.add((n.ts, n.score))
        sensor = Sensor(event.sensor, kinds.get(event.sensor, "")) if event.sensor else EDGE_AGENT
        result = resources.News2Result(
            event.id, n.ts, n.score, n.band, n.partial, n.missing, n.subscores
        )
        out.append(Made(resources.news2(subject, pat, dev(sensor), result), sensor.sensor))
    return out


def _alarms(
    source: AlarmSource,
    subject: Subject,
    pat: Patient,
    dev: DeviceOf,
    kinds: Mapping[str, str],
    start: float,
    end: float,
) -> list[Made]:
    out: list[Made] = []
    records = source.dwelling_since(subject.dwelling, start, MAX_ALARMS)
    for a in sorted(records, key=lambda r: (r.raised_at, r.id)):
        if not start <= a.raised_at < end:
            continue
        if a.sensor:
            sensor = Sensor(a.sensor, kinds.get(a.sensor, ""))
        else:
            sensor = HUB if a.source == "hub" else EDGE_AGENT
        facts = resources.AlarmFacts(
            a.id, a.kind.value, a.severity.value, a.raised_at, a.resolved_at
        )
        out.append(Made(resources.alarm(subject, pat, dev(sensor), facts), sensor.sensor))
    return out


def sensor_kinds(states: Sequence[DwellingState | DwellingHealth], dwelling: str) -> dict[str, str]:
    """sensor -> kind, from hub.presence's dwelling states (what the statuses said)."""
    for state in states:
        if state.dwelling == dwelling:
            return {s.sensor: s.kind for s in state.sensors}
    return {}
