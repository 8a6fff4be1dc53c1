"""The FHIR resources we build (hub.fhir.resources, hub.fhir.bundle): each validates with
fhir.resources after a JSON round trip, carries the LOINC code, UCUM unit and profile of
its vital sign, keeps the value as the sensor sent it, and names no pseudonym or person."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given
from hypothesis import strategies as st

from hub.fhir import bundle, codes, resources
from hub.fhir.resources import AlarmFacts, News2Result, Sensor, Subject
from sensors.contract import Reading

SUBJECT = Subject("dw-004", "zgt", "ZGT-123")
T = 1_780_000_000.25
PAT = resources.patient(SUBJECT)
DEV = resources.device(SUBJECT, Sensor("vitals-1", "vitals"))

# quantity -> (LOINC codes, UCUM code, profile), from the FHIR R4 vital-signs profiles.
EXPECTED = {
    "hr": (["8867-4"], "/min", "heartrate"),
    "rr": (["9279-1"], "/min", "resprate"),
    "temp": (["8310-5"], "Cel", "bodytemp"),
    "spo2": (["2708-6", "59408-5"], "%", "oxygensat"),
    "weight": (["29463-7"], "kg", "bodyweight"),
}


def round_trip(resource: Any) -> Any:
    """Serialised and parsed again by its own class: what a receiver reads."""
    return type(resource).model_validate_json(resource.model_dump_json(exclude_none=True))


def raw_number(resource: Any, *path: str | int) -> str:
    """The JSON text of a number in the serialised resource (parse_float keeps it)."""
    node: Any = json.loads(resource.model_dump_json(exclude_none=True), parse_float=str)
    for step in path:
        node = node[step]
    return str(node)


@pytest.mark.parametrize("quantity", sorted(EXPECTED))
def test_each_vital_sign_has_its_loinc_code_ucum_unit_and_profile(quantity: str) -> None:
    obs = round_trip(resources.vital(SUBJECT, PAT, DEV, quantity, codes.VITALS[quantity], T, 61.5))
    loinc, ucum, profile = EXPECTED[quantity]
    assert obs.get_resource_type() == "Observation"
    assert [c.code for c in obs.code.coding] == loinc
    assert {c.system for c in obs.code.coding} == {"http://loinc.org"}
    assert (obs.valueQuantity.system, obs.valueQuantity.code) == ("http://unitsofmeasure.org", ucum)
    assert obs.meta.profile == [f"http://hl7.org/fhir/StructureDefinition/{profile}"]
    assert obs.category[0].coding[0].code == "vital-signs"
    assert obs.subject.reference == f"urn:uuid:{PAT.id}"
    assert obs.device.reference == f"urn:uuid:{DEV.id}"
    assert obs.effectiveDateTime.isoformat().startswith("2026-05-28T20:26:40.250")


def test_blood_pressure_is_a_panel_with_systolic_and_diastolic_components() -> None:
    obs = round_trip(resources.blood_pressure(SUBJECT, PAT, DEV, T, 131.0, 84.0))
    assert obs.code.coding[0].code == "85354-9"
    assert [c.code.coding[0].code for c in obs.component] == ["8480-6", "8462-4"]
    assert [c.valueQuantity.code for c in obs.component] == ["mm[Hg]", "mm[Hg]"]
    assert raw_number(obs, "component", 0, "valueQuantity", "value") == "131.0"
    assert raw_number(obs, "component", 1, "valueQuantity", "value") == "84.0"
    assert obs.meta.profile == ["http://hl7.org/fhir/StructureDefinition/bp"]


@given(st.floats(min_value=0, max_value=350, allow_nan=False, allow_infinity=False))
def test_the_value_keeps_the_text_the_sensor_sent(value: float) -> None:
    """The value's text on the wire (the contract's JSON of the reading) comes out of the
    FHIR JSON unchanged."""
    wire = Reading(sensor="vitals-1", quantity="hr", t=T, value=value).model_dump_json()
    sent = str(json.loads(wire, parse_float=str)["value"])
    received = Reading.model_validate_json(wire).value  # as the hub decodes it
    obs = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T, received)
    assert raw_number(obs, "valueQuantity", "value") == sent


def test_news2_is_an_observation_with_a_component_per_sub_score() -> None:
    result = News2Result("ev-1", T, 5, "medium", True, ("acvpu",), (("hr", 1), ("rr", 2)))
    obs = round_trip(resources.news2(SUBJECT, PAT, DEV, result))
    assert obs.code.coding[0].system == "http://snomed.info/sct"
    assert obs.code.coding[0].code == "1104051000000101"
    assert obs.valueInteger == 5
    assert [(c.code.coding[0].code, c.valueInteger) for c in obs.component] == [
        ("hr", 1),
        ("rr", 2),
    ]
    assert obs.interpretation[0].text == "medium"
    assert "acvpu" in obs.note[0].text


def test_an_alarm_is_a_flag_with_its_period_and_device() -> None:
    open_ = round_trip(
        resources.alarm(SUBJECT, PAT, DEV, AlarmFacts("al-1", "vitals", "high", T, None))
    )
    closed = round_trip(
        resources.alarm(SUBJECT, PAT, DEV, AlarmFacts("al-1", "vitals", "high", T, T + 60))
    )
    assert (
        open_.get_resource_type() == "Flag"
        and open_.status == "active"
        and open_.period.end is None
    )
    assert closed.status == "inactive" and closed.period.end is not None
    assert open_.code.coding[0].code == "vitals" and open_.author.reference.endswith(str(DEV.id))
    assert open_.id == closed.id  # the same alarm: the same resource


def test_device_and_provenance_name_the_sensor_and_its_resources() -> None:
    dev = round_trip(DEV)
    assert dev.get_resource_type() == "Device"
    assert [i.value for i in dev.identifier][1] == "vitals-1"
    assert dev.type.text == "vitals" and dev.modelNumber == "vitals"
    obs = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T, 72.0)
    prov = round_trip(resources.provenance(SUBJECT, DEV, [obs], T + 1))
    assert prov.get_resource_type() == "Provenance"
    assert [t.reference for t in prov.target] == [f"urn:uuid:{obs.id}"]
    assert prov.agent[0].who.reference == f"urn:uuid:{DEV.id}"
    assert prov.agent[0].type.coding[0].code == "device"


def test_the_patient_carries_only_the_institutions_identifier() -> None:
    pat = round_trip(PAT)
    assert pat.get_resource_type() == "Patient"
    assert [(i.system, i.value) for i in pat.identifier] == [("urn:mz:institution:zgt", "ZGT-123")]
    assert pat.name is None and pat.birthDate is None and pat.address is None
    text = PAT.model_dump_json() + DEV.model_dump_json()
    assert "dw-004" not in text


def test_ids_are_stable_and_distinct() -> None:
    a = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T, 72.0)
    again = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T, 72.0)
    later = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T + 1, 72.0)
    other = resources.device(Subject("dw-005", "zgt", "ZGT-9"), Sensor("vitals-1", "vitals"))
    assert a.id == again.id != later.id
    assert other.id != DEV.id  # the same sensor id in another dwelling is another device


def test_a_transaction_bundle_creates_conditionally_and_validates() -> None:
    obs = resources.vital(SUBJECT, PAT, DEV, "hr", codes.HEART_RATE, T, 72.0)
    prov = resources.provenance(SUBJECT, DEV, [obs], T)
    tx: Any = Bundle.model_validate_json(bundle.to_json(bundle.transaction([PAT, DEV, obs, prov])))
    requests = [(e.request.method, e.request.url, e.request.ifNoneExist) for e in tx.entry]
    assert requests[0] == ("POST", "Patient", "identifier=urn:mz:institution:zgt|ZGT-123")
    assert requests[2] == ("POST", "Observation", f"identifier=urn:ietf:rfc:3986|urn:uuid:{obs.id}")
    assert requests[3] == ("POST", "Provenance", None)
    assert [e.fullUrl for e in tx.entry] == [f"urn:uuid:{r.id}" for r in (PAT, DEV, obs, prov)]


def test_response_locations_are_read_from_a_transaction_response() -> None:
    answer = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "Patient/1/_history/1"}},
            {"response": {"status": "200 OK"}},
        ],
    }
    assert bundle.response_locations(json.dumps(answer)) == ["Patient/1/_history/1", ""]
    with pytest.raises(ValueError):
        bundle.response_locations(json.dumps({**answer, "type": "searchset"}))
    with pytest.raises(ValueError):
        bundle.response_locations("<html>")
