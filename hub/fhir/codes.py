"""What our quantities are in FHIR: LOINC codes, UCUM units and the vital-signs profiles
(FHIR R4 "Vital Signs" profile, observation-vitalsigns), and our own code systems.

Pure data; hub.fhir.resources builds the resources from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PROVENANCE_AGENT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/"
# An identifier that is itself a URI (our opaque urn:uuid ids): FHIR's own system for it.
URI_SYSTEM: Final = "urn:ietf:rfc:3986"
# Our own code systems: the sensor's pseudonymous id, alarm kinds, NEWS2 parameters.
SENSOR_SYSTEM: Final = "urn:mz:sensor"
ALARM_SYSTEM: Final = "urn:mz:alarm-kind"
NEWS2_PARAMETER_SYSTEM: Final = "urn:mz:news2-parameter"
# The institution's patient identifiers: one system per institution (hub.fhir.consent).
INSTITUTION_SYSTEM: Final = "urn:mz:institution:"


@dataclass(frozen=True, slots=True)
class Coded:
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Vital:
    """One vital sign: its LOINC code(s), UCUM unit and vital-signs profile."""

    codes: tuple[Coded, ...]
    ucum: str  # the UCUM code
    unit: str  # the human-readable unit
    profile: str  # the base profile's name under PROFILE


HEART_RATE: Final = Vital((Coded("8867-4", "Heart rate"),), "/min", "beats/minute", "heartrate")
RESP_RATE: Final = Vital(
    (Coded("9279-1", "Respiratory rate"),), "/min", "breaths/minute", "resprate"
)
BODY_TEMP: Final = Vital((Coded("8310-5", "Body temperature"),), "Cel", "°C", "bodytemp")
# The profile wants 2708-6; 59408-5 says it was measured by pulse oximetry (it is).
SPO2: Final = Vital(
    (
        Coded("2708-6", "Oxygen saturation in Arterial blood"),
        Coded("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    ),
    "%",
    "%",
    "oxygensat",
)
BODY_WEIGHT: Final = Vital((Coded("29463-7", "Body weight"),), "kg", "kg", "bodyweight")
BP_PANEL: Final = Coded("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC: Final = Coded("8480-6", "Systolic blood pressure")
DIASTOLIC: Final = Coded("8462-4", "Diastolic blood pressure")
MMHG: Final = ("mm[Hg]", "mmHg")

# Reading quantities (sensors.contract.QUANTITY_RANGES) that are a vital sign on their
# own; sbp and dbp go together into one blood-pressure panel. `temperature` is body
# temperature only from a thermometer (hub.fhir.export decides, as the console does).
VITALS: Final[dict[str, Vital]] = {
    "hr": HEART_RATE,
    "rr": RESP_RATE,
    "temp": BODY_TEMP,
    "temperature": BODY_TEMP,
    "spo2": SPO2,
    "weight": BODY_WEIGHT,
}
BLOOD_PRESSURE: Final = ("sbp", "dbp")

# NEWS2 total score: SNOMED CT 1104051000000101 (Royal College of Physicians NEWS2 total
# score, UK extension).
NEWS2: Final = Coded("1104051000000101", "Royal College of Physicians NEWS2 total score")
# The sub-score of each NEWS2 parameter (edge.detectors.news2.Param values).
NEWS2_PARAMETERS: Final[dict[str, str]] = {
    "rr": "Respiration rate sub-score",
    "spo2": "Oxygen saturation sub-score",
    "o2": "Supplemental oxygen sub-score",
    "sbp": "Systolic blood pressure sub-score",
    "hr": "Pulse sub-score",
    "acvpu": "Consciousness (ACVPU) sub-score",
    "temp": "Temperature sub-score",
}
