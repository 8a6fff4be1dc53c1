"""The FHIR link on the operational store (SQLite and PostgreSQL) and a real time-series
store: consent checked on every export and push, every disclosure audited, the push
subscription's transaction Bundles taken by a FHIR endpoint of the tests' own (a real HTTP
server), their locations recorded, nothing sent twice, transient failures retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.store import AlarmStore
from hub.context import Actor, Dwelling
from hub.event_log import SqlEventStore
from hub.fhir.consent import ConsentStore
from hub.fhir.export import Export, export
from hub.fhir.outbox import FhirOutbox, Status
from hub.fhir.push import Pusher, PushPolicy
from hub.registry import Registry
from hub.storage.base import Point, StoredEvent
from hub.storage.routed import RoutedStore
from hub.storage.sqlite import SqliteTimeSeriesStore
from tests.fhir_server import fhir_server, resources_of

pytestmark = pytest.mark.integration

T0 = 1_780_000_000.0
ADMIN = Actor("tester", "admin", "cli")
KINDS = {"vitals-1": "vitals"}


@dataclass
class Link:
    engine: Engine
    registry: Registry
    consents: ConsentStore
    store: RoutedStore
    alarms: AlarmStore


@pytest.fixture
async def link(sql_engine: Engine, tmp_path: Path) -> AsyncIterator[Link]:
    registry = Registry(sql_engine)
    for d in ("dw-001", "dw-002"):
        registry.add_dwelling(Dwelling(d, f"Unit {d}"))
    registry.update_resident(
        "dw-001", {"name": "Truus Voorbeeld", "institution_patient_id": "ZGT-123"}, ADMIN, T0
    )
    registry.update_resident(
        "dw-002", {"name": "Kees Proef", "institution_patient_id": "ZGT-456"}, ADMIN, T0
    )
    store = RoutedStore(SqliteTimeSeriesStore(tmp_path / "ts.sqlite"), SqlEventStore(sql_engine))
    for dw in ("dw-001", "dw-002"):
        await store.write_points(
            [
                Point(dw, "vitals-1", "hr", T0 + 10, 72.0),
                Point(dw, "vitals-1", "spo2", T0 + 10, 94.5),
                Point(dw, "vitals-1", "sbp", T0 + 20, 131.0),
                Point(dw, "vitals-1", "dbp", T0 + 20, 84.0),
                Point(dw, "vitals-1", "temp", T0 + 30, 37.85),
                Point(dw, "vitals-1", "rr", T0 + 30, 21.0),
                Point(dw, "scale-1", "weight", T0 + 40, 71.3),
                Point(dw, "room-1", "temperature", T0 + 40, 20.5),  # room air: not a vital
            ]
        )
        await store.write_event(
            StoredEvent(
                f"ev-{dw}",
                dw,
                "news2_band_changed",
                T0 + 35,
                T0 + 35,
                detail={
                    "score": 5,
                    "band": "medium",
                    "sub_hr": 1,
                    "sub_sbp": 0,
                    "sub_rr": 2,
                    "sub_temp": 1,
                    "sub_spo2": 1,
                    "partial": True,
                    "missing": "acvpu",
                },
            )
        )
    alarms = AlarmStore(sql_engine)
    alarms.insert_alarm(
        AlarmRecord(
            "al-1",
            "dw-001",
            AlarmKind.VITALS,
            Severity.HIGH,
            AlarmState.RAISED,
            "edge",
            T0 + 36,
            T0 + 36,
        )
    )
    yield Link(sql_engine, registry, ConsentStore(sql_engine), store, alarms)
    await store.close()


def audit_actions(link: Link, dwelling: str) -> list[str]:
    return [e.action for e in reversed(link.registry.audit_log(dwelling)) if "fhir" in e.action]


async def do_export(link: Link, dwelling: str = "dw-001", now: float = T0 + 100) -> Export:
    return await export(
        link.consents, link.store, link.alarms, KINDS, dwelling, T0, T0 + 100, ADMIN, now
    )


def kinds_of(bundle: Bundle) -> list[str]:
    return [r.get_resource_type() for r in resources_of(bundle)]


async def test_a_resident_without_consent_exports_nothing_and_nothing_is_audited(
    link: Link,
) -> None:
    result = await do_export(link)
    assert result.bundle is None and result.data == 0
    assert audit_actions(link, "dw-001") == []
    # Consent for dw-002 does not open dw-001.
    link.consents.grant("dw-002", "zgt", ["vital-signs"], T0, ADMIN, T0)
    assert (await do_export(link)).bundle is None


async def test_export_under_consent_is_audited_and_holds_only_the_consented_categories(
    link: Link,
) -> None:
    consent = link.consents.grant("dw-001", "zgt", ["vital-signs", "news2"], T0, ADMIN, T0)
    result = await do_export(link)
    assert result.bundle is not None
    # Round trip through JSON: every resource validates with fhir.resources.
    parsed = Bundle.model_validate_json(result.bundle.model_dump_json())
    kinds = kinds_of(parsed)
    assert kinds.count("Patient") == 1 and "Flag" not in kinds  # alarms not consented
    # hr, spo2, bp panel, temp, rr, weight + NEWS2; room air left out.
    assert kinds.count("Observation") == 7 and result.data == 7
    assert kinds.count("Device") == 3 and kinds.count("Provenance") == 3  # 2 sensors, edge
    text = result.bundle.model_dump_json()
    assert "dw-001" not in text and "Truus" not in text  # no pseudonym, no name
    assert audit_actions(link, "dw-001") == ["fhir.consent.grant", "fhir.export"]
    assert (
        f"consent {consent.id}: zgt, vital-signs, news2"
        in link.registry.audit_log("dw-001")[0].detail
    )


async def test_the_consent_period_and_revocation_bound_what_is_disclosed(link: Link) -> None:
    consent = link.consents.grant(
        "dw-001", "zgt", ["vital-signs"], T0 + 25, ADMIN, T0, valid_until=T0 + 35
    )
    result = await do_export(link, now=T0 + 30)
    assert result.bundle is not None
    codes = sorted(
        c.code for o in resources_of(result.bundle, "Observation") for c in o.code.coding
    )
    assert codes == ["8310-5", "9279-1"]  # only temp and rr (T0+30) lie in [T0+25, T0+35)
    # Ended (now past valid_until), or revoked: nothing more.
    assert (await do_export(link, now=T0 + 40)).bundle is None
    link.consents.revoke(consent.id, ADMIN, T0 + 31)
    assert (await do_export(link, now=T0 + 32)).bundle is None


def pusher(link: Link, now: list[float], **policy: Any) -> Pusher:
    return Pusher(
        link.consents,
        FhirOutbox(link.engine),
        link.store,
        link.alarms,
        lambda d: KINDS,
        lambda: now[0],
        policy=PushPolicy(settle_s=10.0, window_max_s=1000.0, backoff_s=5.0, **policy),
        worker="test-worker",
    )


async def test_push_round_trip_through_a_fhir_endpoint_records_locations_once(link: Link) -> None:
    now = [T0 + 200]
    with fhir_server() as server:
        consent = link.consents.grant(
            "dw-001",
            "zgt",
            ["vital-signs", "news2", "alarms"],
            T0,
            ADMIN,
            T0,
            endpoint=server.url,
        )
        p = pusher(link, now)
        assert await p.queue_due() == 1
        assert await p.queue_due() == 0  # the window is queued once
        assert await p.send_due() == 1
        assert server.requests == 1
        sent = server.bundles[0]
        kinds = kinds_of(sent)
        assert kinds.count("Flag") == 1 and kinds.count("Observation") == 7
        assert all(e.request and e.request.method == "POST" for e in sent.entry or [])
        rows = FhirOutbox(link.engine).rows(consent.id)
        assert [r.status for r in rows] == [Status.SENT]
        # The answer's locations are what the outbox recorded, one per entry.
        assert list(rows[0].locations) == server.answered[0]
        assert all("/_history/" in loc for loc in rows[0].locations)
        # Nothing is sent twice: another round finds nothing due.
        assert await p.send_due() == 0 and server.requests == 1
        # New data later: the next window only.
        await link.store.write_points([Point("dw-001", "vitals-1", "hr", T0 + 250, 88.0)])
        now[0] = T0 + 300
        assert await p.queue_due() == 1 and await p.send_due() == 1
        second = server.bundles[1]
        observations = resources_of(second, "Observation")
        assert [str(o.valueQuantity.value) for o in observations] == ["88.0"]
    pushes = [e for e in link.registry.audit_log("dw-001") if e.action == "fhir.push"]
    assert len(pushes) == 2 and all("zgt" in e.detail for e in pushes)


async def test_push_retries_a_transient_failure_and_gives_up_on_a_refusal(link: Link) -> None:
    now = [T0 + 200]
    with fhir_server() as server:
        consent = link.consents.grant(
            "dw-001", "zgt", ["vital-signs"], T0, ADMIN, T0, endpoint=server.url
        )
        server.fail_with = [503]
        p = pusher(link, now)
        await p.queue_due()
        assert await p.send_due() == 0
        row = FhirOutbox(link.engine).rows(consent.id)[0]
        assert row.status == Status.PENDING and row.error == "HTTP 503"
        assert row.next_attempt_at > now[0]  # backoff: not due yet
        assert await p.send_due() == 0 and server.requests == 1
        now[0] = row.next_attempt_at
        assert await p.send_due() == 1 and server.requests == 2
        assert FhirOutbox(link.engine).rows(consent.id)[0].status == Status.SENT
        # A refusal (4xx) is final.
        await link.store.write_points([Point("dw-001", "vitals-1", "hr", T0 + 250, 90.0)])
        now[0] = T0 + 400
        server.fail_with = [422]
        await p.queue_due()
        assert await p.send_due() == 0
        assert FhirOutbox(link.engine).rows(consent.id)[1].status == Status.FAILED
        assert await p.send_due() == 0 and server.requests == 3


async def test_a_revoked_consent_withholds_what_was_queued(link: Link) -> None:
    now = [T0 + 200]
    with fhir_server() as server:
        consent = link.consents.grant(
            "dw-001", "zgt", ["vital-signs"], T0, ADMIN, T0, endpoint=server.url
        )
        p = pusher(link, now)
        assert await p.queue_due() == 1
        link.consents.revoke(consent.id, ADMIN, now[0])
        assert await p.send_due() == 0 and server.requests == 0
        assert FhirOutbox(link.engine).rows(consent.id)[0].status == Status.WITHHELD
        assert await p.queue_due() == 0  # no subscription any more
    assert "fhir.push" not in audit_actions(link, "dw-001")


async def test_two_workers_never_claim_the_same_bundle(link: Link) -> None:
    with fhir_server() as server:
        link.consents.grant("dw-001", "zgt", ["vital-signs"], T0, ADMIN, T0, endpoint=server.url)
        now = [T0 + 200]
        await pusher(link, now).queue_due()
        a = FhirOutbox(link.engine).claim("a", now[0])
        b = FhirOutbox(link.engine).claim("b", now[0])
        assert a is not None and b is None
        # The claimer died mid-send: the row is 'unknown' after its lease, never resent.
        p = pusher(link, now, lease_s=60.0)
        now[0] += 61
        assert await p.send_due() == 0 and server.requests == 0
        assert FhirOutbox(link.engine).rows()[0].status == Status.UNKNOWN


def test_consent_refuses_what_it_cannot_hold(link: Link) -> None:
    from hub.errors import InvalidValue, NotFound

    with pytest.raises(InvalidValue):
        link.consents.grant("dw-001", "zgt", ["diary"], T0, ADMIN, T0)
    with pytest.raises(InvalidValue):
        link.consents.grant("dw-001", "Not An Id", ["alarms"], T0, ADMIN, T0)
    with pytest.raises(InvalidValue):
        link.consents.grant("dw-001", "zgt", ["alarms"], T0, ADMIN, T0, endpoint="ftp://x")
    with pytest.raises(NotFound):
        link.consents.grant("dw-404", "zgt", ["alarms"], T0, ADMIN, T0)
    link.registry.add_dwelling(Dwelling("dw-003", "Unit 3"))
    with pytest.raises(InvalidValue, match="institution identifier"):
        link.consents.grant("dw-003", "zgt", ["alarms"], T0, ADMIN, T0)
    assert json.loads("[]") == [] and link.consents.consents() == []


async def test_a_subscription_catches_up_on_its_history_a_few_windows_a_round(
    link: Link,
) -> None:
    with fhir_server() as server:
        consent = link.consents.grant(
            "dw-001", "zgt", ["vital-signs"], T0, ADMIN, T0, endpoint=server.url
        )
        now = [T0 + 200]
        p = pusher(link, now)
        p.policy = PushPolicy(settle_s=10.0, window_max_s=10.0, windows_per_round=3)
        # Readings at T0+10, +20, +30 (and +40): windows [T0, T0+10), [T0+10, T0+20), ...
        assert await p.queue_due() == 2  # [T0+10, T0+20) and [T0+20, T0+30) had data
        assert link.consents.get(consent.id).pushed_until == T0 + 30  # type: ignore[union-attr]
        assert await p.queue_due() == 2  # +30 (temp, rr) and +40 (weight)
        await p.send_due()
        times = sorted(
            o.effectiveDateTime.timestamp()
            for b in server.bundles
            for o in resources_of(b, "Observation")
        )
        assert times == [T0 + 10, T0 + 10, T0 + 20, T0 + 30, T0 + 30, T0 + 40]
