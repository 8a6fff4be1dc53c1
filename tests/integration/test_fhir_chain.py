"""The whole chain: vital signs published over MQTT (real Mosquitto) as the edge encodes
them, taken in by the real hub, pushed by its FHIR subscription to an endpoint of the
tests' own and exported as a Bundle: each value and unit arrives as the sensor sent it,
byte for byte."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr

from hub.config import (
    OPS_DB,
    BrokerSettings,
    ConsoleSection,
    DataSettings,
    FhirSection,
    HubSettings,
)
from hub.context import Actor, Dwelling
from hub.fhir.collect import sensor_kinds
from hub.fhir.consent import ConsentStore
from hub.fhir.export import export
from hub.fhir.outbox import FhirOutbox, Status
from hub.registry import Registry
from hub.sql.schema import open_sqlite_store
from sensors.contract import Reading, ReadingsBatch, encode, new_id
from tests.fhir_server import fhir_server, resources_of
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, hub_running, wait_until

pytestmark = pytest.mark.integration

ADMIN = Actor("tester", "admin", "cli")
# The values as a vitals monitor sends them (awkward ones: a trailing .0, two decimals).
SENT = {"hr": 72.0, "spo2": 94.5, "temp": 37.85, "rr": 18.0, "sbp": 131.0, "dbp": 84.0}
LOINC = {"8867-4": "hr", "2708-6": "spo2", "8310-5": "temp", "9279-1": "rr"}
UCUM = {"hr": "/min", "spo2": "%", "temp": "Cel", "rr": "/min", "sbp": "mm[Hg]", "dbp": "mm[Hg]"}


def numbers_as_text(payload: bytes | str) -> Any:
    return json.loads(payload, parse_float=str)


def observed(bundle_json: str) -> dict[str, tuple[str, str]]:
    """quantity -> (value text, UCUM code), from a Bundle's JSON as it travelled."""
    out: dict[str, tuple[str, str]] = {}
    for entry in numbers_as_text(bundle_json)["entry"]:
        r = entry["resource"]
        if r["resourceType"] != "Observation" or "valueInteger" in r:
            continue
        code = r["code"]["coding"][0]["code"]
        if code == "85354-9":
            for comp, q in zip(r["component"], ("sbp", "dbp"), strict=True):
                out[q] = (comp["valueQuantity"]["value"], comp["valueQuantity"]["code"])
        else:
            q = LOINC[code]
            out[q] = (r["valueQuantity"]["value"], r["valueQuantity"]["code"])
    return out


async def test_a_reading_sent_over_mqtt_arrives_unchanged_in_fhir(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    data_dir = tmp_path / "hub"
    engine = open_sqlite_store(data_dir / OPS_DB)
    registry = Registry(engine)
    t = float(int(time.time()) - 60)
    registry.add_dwelling(Dwelling("dw-001", "Unit 1"))
    registry.update_resident("dw-001", {"institution_patient_id": "ZGT-123"}, ADMIN, t)
    engine.dispose()
    settings = HubSettings(
        broker=BrokerSettings(
            url=mosquitto.url,
            username=HUB_USER,
            password=SecretStr(HUB_PASSWORD),
            client_id="hub.fhir-test",
            reconnect_max_s=0.5,
        ),
        data=DataSettings(dir=data_dir),
        console=ConsoleSection(enabled=False, secret_key=SecretStr("x" * 40)),
        fhir=FhirSection(interval_s=0.1, settle_s=0.0),
    )
    batch = ReadingsBatch(
        id=new_id(),
        dwelling="dw-001",
        ts=t,
        readings=[Reading(sensor="vitals-1", quantity=q, t=t, value=v) for q, v in SENT.items()],
    )
    topic, payload = encode(batch)
    wire = {r["quantity"]: r["value"] for r in numbers_as_text(payload)["readings"]}
    assert set(wire) == set(SENT)
    with fhir_server() as server:
        async with hub_running(settings) as hub:
            async with aiomqtt.Client(
                "127.0.0.1",
                mosquitto.port,
                username="dw-001",
                password="pw-dw-001",
                identifier="dw-001",
            ) as edge:
                await edge.publish(topic, payload, qos=1)

            async def stored() -> bool:
                return len(await hub.store.latest("dw-001")) == len(SENT)

            await wait_until(stored)
            # Consent with an endpoint: the hub's push subscription takes it from here.
            consents = ConsentStore(hub.sql)
            consent = consents.grant(
                "dw-001", "zgt", ["vital-signs"], t - 10, ADMIN, time.time(), endpoint=server.url
            )
            outbox = FhirOutbox(hub.sql)
            await wait_until(lambda: [r.status for r in outbox.rows(consent.id)] == [Status.SENT])
            result = await export(
                consents,
                hub.store,
                None,
                sensor_kinds(hub.presence.board(), "dw-001"),
                "dw-001",
                t - 10,
                time.time(),
                ADMIN,
                time.time(),
            )
    assert result.bundle is not None
    exported = observed(result.bundle.model_dump_json(exclude_none=True))
    pushed = observed(server.raw[0].decode())
    expected = {q: (wire[q], UCUM[q]) for q in SENT}
    assert pushed == expected
    assert exported == expected
    assert len(server.bundles) == 1  # sent once
    assert len(resources_of(server.bundles[0], "Observation")) == 5  # bp is one panel
