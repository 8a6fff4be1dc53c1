"""The read-only FHIR search API (`/fhir/Observation`, `/fhir/Flag`) over the console's
app (httpx's ASGI transport, a real registry and time-series store): authenticated like
the rest of the API, only what the resident's consent allows, each search audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from hub.context import Actor
from hub.fhir.consent import ConsentStore
from hub.storage.base import Point, StoredEvent
from tests.fhir_server import resources_of
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import Console, basic, open_console
from tests.integration.console_fakes import OPERATOR, FakeSleep

pytestmark = pytest.mark.integration

ADMIN = Actor("seed", "admin", "cli")
NOW = FakeClock().t  # the console's clock, which the tests do not move


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, store=True, sleep=FakeSleep(clock)) as c:
        t = clock() - 3600
        c.registry.update_resident("dw-001", {"institution_patient_id": "ZGT-123"}, ADMIN, t)
        c.registry.update_resident("dw-002", {"institution_patient_id": "ZGT-456"}, ADMIN, t)
        assert c.store is not None
        for dw in ("dw-001", "dw-002"):
            await c.store.write_points(
                [
                    Point(dw, "vitals-1", "hr", t + 10, 72.0),
                    Point(dw, "vitals-1", "hr", t + 1800, 75.0),
                    Point(dw, "vitals-1", "spo2", t + 1800, 93.0),
                ]
            )
            await c.store.write_event(
                StoredEvent(f"ev-{dw}", dw, "news2_updated", t + 1800, t + 1800,
                            detail={"score": 3, "band": "low", "sub_spo2": 2, "sub_hr": 1})
            )  # fmt: skip
        ConsentStore(c.registry.engine).grant(
            "dw-001", "zgt", ["vital-signs", "news2"], t, ADMIN, t
        )
        yield c


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def search(c: Console, query: str, auth: bool = True) -> Bundle:
    r = await c.client.get(f"/fhir/{query}", headers=basic(*OPERATOR) if auth else {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    return Bundle.model_validate_json(r.text)


async def test_searching_needs_a_login(console: Console) -> None:
    r = await console.client.get("/fhir/Observation?patient=ZGT-123")
    assert r.status_code == 401


async def test_observations_of_a_consenting_resident_by_date(console: Console) -> None:
    found = await search(console, f"Observation?patient=ZGT-123&date=ge{iso(NOW - 1800)}")
    assert found.type == "searchset"
    values = sorted(
        (o.code.coding[0].code, str(o.valueQuantity.value) if o.valueQuantity else o.valueInteger)
        for o in resources_of(found)
    )
    # The reading an hour ago is before date=ge; NEWS2 3 came with the second spot check.
    assert values == [("1104051000000101", 3), ("2708-6", "93.0"), ("8867-4", "75.0")]
    assert found.total == 3
    every = await search(
        console, "Observation?patient=Patient/ZGT-123&code=http://loinc.org|8867-4"
    )
    assert sorted(str(o.valueQuantity.value) for o in resources_of(every)) == [
        "72.0",
        "75.0",
    ]
    # With the institution's identifier system: only under that institution's consent.
    same = await search(console, "Observation?patient=urn:mz:institution:zgt|ZGT-123")
    other = await search(console, "Observation?patient=urn:mz:institution:umcu|ZGT-123")
    assert same.total == 4 and other.total == 0
    reads = [e for e in console.registry.audit_log("dw-001") if e.action == "fhir.read"]
    assert len(reads) == 3 and reads[0].actor == OPERATOR[0] and reads[0].source == "api"


async def test_no_consent_or_an_unknown_patient_finds_nothing(console: Console) -> None:
    for patient in ("ZGT-456", "NOPE"):
        found = await search(console, f"Observation?patient={patient}")
        assert found.total == 0 and not found.entry
    assert not [e for e in console.registry.audit_log("dw-002") if e.action == "fhir.read"]
    # Alarms were not consented for dw-001.
    flags = await search(console, "Flag?patient=ZGT-123")
    assert flags.total == 0


async def test_bad_search_parameters_are_refused(console: Console) -> None:
    for query in (
        "date=ge2026-13-01T00:00:00Z",
        "date=ge2026-01-01T00:00",
        "category=laboratory",
        "patient=http://other.example|ZGT-123",
    ):
        r = await console.client.get(
            f"/fhir/Observation?patient=ZGT-123&{query}", headers=basic(*OPERATOR)
        )
        assert r.status_code == 400, query
