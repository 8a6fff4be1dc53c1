"""FHIR R4 resources from what the hub stored, built with `fhir.resources` (its R4B
package: FHIR 4.3, which keeps R4's Observation, Patient, Device, Flag and Provenance
as they were). Pure: no I/O, no clock; ids are derived from what they describe, so the
same reading always makes the same resource (a resend is recognised, not duplicated).

Privacy: the Patient carries only the identifier the institution gave (from the
registry); our pseudonymous dwelling id appears nowhere. Resource ids and identifiers are
opaque name-based UUIDs; a sensor's pseudonymous id is its Device's identifier.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from fhir.resources.R4B.device import Device
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.resource import Resource

from hub.fhir import codes
from hub.fhir.codes import Coded, Vital

# uuid5 namespace of every id we make (a fixed random UUID: never change it, or the
# same reading would become a new resource).
NAMESPACE: Final = uuid.UUID("6f1d2c1e-8a3b-4f57-9d0c-2b7e5a41c9d3")


@dataclass(frozen=True, slots=True)
class Subject:
    """The resident as the institution knows them, and the dwelling behind it (for ids
    only: the dwelling id itself never goes into a resource)."""

    dwelling: str
    institution: str
    patient_id: str  # the identifier the institution gave (registry)


@dataclass(frozen=True, slots=True)
class Sensor:
    """A device that measured: its pseudonymous id and what the hub knows of it."""

    sensor: str
    kind: str  # from the dwelling's status (e.g. vitals, pendant); "" when unknown


@dataclass(frozen=True, slots=True)
class Made:
    """A resource and the sensor it came from (for its Provenance)."""

    resource: Resource
    sensor: str


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def full_url(resource: Resource) -> str:
    return f"urn:uuid:{resource.id}"


def reference(resource: Resource) -> dict[str, str]:
    """A reference inside a Bundle: to the entry's fullUrl (urn:uuid), which a server
    processing a transaction rewrites to the id it assigns."""
    return {"reference": full_url(resource)}


def instant(t: float) -> str:
    """UNIX seconds as a FHIR dateTime/instant (UTC, milliseconds)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def decimal(value: float) -> Decimal:
    """The value as the sensor sent it: Python's shortest round-trip text of the float
    (what JSON carried), so 36.8 stays 36.8 and 72.0 stays 72.0 in the FHIR JSON."""
    return Decimal(repr(value))


def patient(subject: Subject) -> Patient:
    return Patient(
        id=uid("patient", subject.institution, subject.patient_id),
        identifier=[
            {
                "use": "official",
                "system": codes.INSTITUTION_SYSTEM + subject.institution,
                "value": subject.patient_id,
            }
        ],
    )


def device(subject: Subject, sensor: Sensor) -> Device:
    kind = sensor.kind or "unknown"
    rid = uid("device", subject.dwelling, sensor.sensor)
    return Device(
        id=rid,
        # The opaque id first (unique: what a conditional create matches on), then the
        # sensor's pseudonymous id (unique only within its dwelling).
        identifier=[*_identifier(rid), {"system": codes.SENSOR_SYSTEM, "value": sensor.sensor}],
        status="active",
        type={"coding": [{"system": codes.SENSOR_SYSTEM + ":kind", "code": kind}], "text": kind},
        modelNumber=kind,
    )


def _identifier(rid: str) -> list[dict[str, str]]:
    return [{"system": codes.URI_SYSTEM, "value": f"urn:uuid:{rid}"}]


def _coding(system: str, coded: Iterable[Coded]) -> list[dict[str, str]]:
    return [{"system": system, "code": c.code, "display": c.display} for c in coded]


def _vital_base(rid: str, pat: Patient, dev: Device, t: float, profile: str) -> dict[str, Any]:
    return {
        "id": rid,
        "meta": {"profile": [codes.PROFILE + profile]},
        "identifier": _identifier(rid),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": codes.OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "subject": reference(pat),
        "effectiveDateTime": instant(t),
        "device": reference(dev),
    }


def vital(
    subject: Subject, pat: Patient, dev: Device, quantity: str, vital: Vital, t: float, value: float
) -> Observation:
    rid = uid("observation", str(dev.id), quantity, repr(t))
    return Observation(
        **_vital_base(rid, pat, dev, t, vital.profile),
        code={"coding": _coding(codes.LOINC, vital.codes), "text": vital.codes[0].display},
        valueQuantity={
            "value": decimal(value),
            "unit": vital.unit,
            "system": codes.UCUM,
            "code": vital.ucum,
        },
    )


def blood_pressure(
    subject: Subject, pat: Patient, dev: Device, t: float, systolic: float, diastolic: float
) -> Observation:
    rid = uid("observation", str(dev.id), "bp", repr(t))
    ucum, unit = codes.MMHG

    def component(coded: Coded, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": _coding(codes.LOINC, [coded]), "text": coded.display},
            "valueQuantity": {
                "value": decimal(value),
                "unit": unit,
                "system": codes.UCUM,
                "code": ucum,
            },
        }

    return Observation(
        **_vital_base(rid, pat, dev, t, "bp"),
        code={"coding": _coding(codes.LOINC, [codes.BP_PANEL]), "text": "Blood pressure"},
        component=[component(codes.SYSTOLIC, systolic), component(codes.DIASTOLIC, diastolic)],
    )


@dataclass(frozen=True, slots=True)
class News2Result:
    """One NEWS2 result as the edge reported it (hub.api.overview.News2's fields)."""

    event_id: str
    ts: float
    score: int
    band: str | None
    partial: bool | None
    missing: tuple[str, ...]
    subscores: tuple[tuple[str, int], ...]


def news2(subject: Subject, pat: Patient, dev: Device, result: News2Result) -> Observation:
    rid = uid("news2", subject.dwelling, result.event_id)
    components = [
        {
            "code": {
                "coding": [
                    {
                        "system": codes.NEWS2_PARAMETER_SYSTEM,
                        "code": param,
                        "display": codes.NEWS2_PARAMETERS.get(param, param),
                    }
                ],
                "text": codes.NEWS2_PARAMETERS.get(param, param),
            },
            "valueInteger": sub,
        }
        for param, sub in result.subscores
    ]
    notes = []
    if result.partial or result.missing:
        notes.append({"text": "partial score; no recent value of: " + ", ".join(result.missing)})
    return Observation(
        id=rid,
        identifier=_identifier(rid),
        status="final",
        category=[
            {
                "coding": [
                    {"system": codes.OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}
                ]
            }
        ],
        code={"coding": _coding(codes.SNOMED, [codes.NEWS2]), "text": "NEWS2"},
        subject=reference(pat),
        effectiveDateTime=instant(result.ts),
        valueInteger=result.score,
        interpretation=[{"text": result.band}] if result.band else None,
        device=reference(dev),
        component=components or None,
        note=notes or None,
    )


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """What a Flag says of an alarm (alerts.model.AlarmRecord's public part)."""

    alarm_id: str
    kind: str
    severity: str
    raised_at: float
    resolved_at: float | None


def alarm(subject: Subject, pat: Patient, dev: Device, facts: AlarmFacts) -> Flag:
    rid = uid("alarm", subject.dwelling, facts.alarm_id)
    period: dict[str, str] = {"start": instant(facts.raised_at)}
    if facts.resolved_at is not None:
        period["end"] = instant(facts.resolved_at)
    return Flag(
        id=rid,
        identifier=_identifier(rid),
        status="inactive" if facts.resolved_at is not None else "active",
        category=[{"text": f"alarm, severity {facts.severity}"}],
        code={
            "coding": [{"system": codes.ALARM_SYSTEM, "code": facts.kind}],
            "text": f"{facts.kind} ({facts.severity})",
        },
        subject=reference(pat),
        period=period,
        author=reference(dev),
    )


def provenance(
    subject: Subject, dev: Device, targets: Sequence[Resource], recorded: float
) -> Provenance:
    """Who made `targets`: the device (agent type `device`), recorded at `recorded`."""
    keys = sorted(str(r.id) for r in targets)
    return Provenance(
        id=uid("provenance", subject.dwelling, str(dev.id), *keys),
        target=[reference(r) for r in targets],
        recorded=instant(recorded),
        agent=[
            {
                "type": {
                    "coding": [
                        {"system": codes.PROVENANCE_AGENT, "code": "device", "display": "Device"}
                    ]
                },
                "who": reference(dev),
            }
        ],
    )
