"""The read-only FHIR search API, for institutions' systems that pull:
`GET /fhir/Observation?patient=...&date=ge...&date=lt...` and `GET /fhir/Flag?...`, a
`searchset` Bundle (application/fhir+json). Authenticated like the rest of the hub API
(hub.api.deps: a console session or HTTP Basic). Only what the resident's consent allows
is searched, and each search is a disclosure with its own audit row (fhir.read), written
before anything is read. `patient` is the institution's identifier of the resident (as
`value`, `Patient/value` or `urn:mz:institution:<code>|value`); an unknown one, or one
without consent, finds nothing.

No `from __future__ import annotations`: FastAPI reads the route signatures at run time.
"""

import functools
import logging
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Query
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.resource import Resource
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from alerts.store import AlarmStore
from hub.api.console import Console
from hub.api.deps import operator_dependency, source_of
from hub.context import Actor, Operator
from hub.errors import AuditFailed
from hub.fhir import bundle, codes
from hub.fhir.collect import collect, sensor_kinds
from hub.fhir.consent import ALARMS, NEWS2, VITAL_SIGNS, ConsentStore
from hub.registry_tables import residents
from hub.sql.engine import reading

log = logging.getLogger(__name__)

READ_ACTION: Final = "fhir.read"
FHIR_JSON: Final = "application/fhir+json"
# Observation's category search values -> consent categories.
_OBSERVATION_CATEGORIES: Final = {"vital-signs": VITAL_SIGNS, "survey": NEWS2}


def parse_dates(values: list[str], now: float) -> tuple[float, float]:
    """FHIR `date` search parameters (ge, gt, le, lt, eq prefixes on an ISO date-time
    with a zone) as [start, end); HTTPException 400 for anything else."""
    start, end = 0.0, now + 1.0
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise HTTPException(400, f"date: not a FHIR dateTime: {raw!r}") from None
        if moment.tzinfo is None:
            raise HTTPException(400, f"date: give a time zone: {raw!r}")
        t = moment.timestamp()
        if prefix in ("ge", "gt", "sa"):
            start = max(start, t)
        elif prefix in ("lt", "le", "eb"):
            end = min(end, t + (1e-6 if prefix == "le" else 0.0))
        elif prefix == "eq":
            start, end = max(start, t), min(end, t + 1e-6)
        else:
            raise HTTPException(400, f"date: unsupported prefix {prefix!r}")
    return start, end


def patient_param(raw: str) -> tuple[str | None, str]:
    """(institution or None, identifier) of a `patient` parameter: `value`,
    `Patient/value`, or `urn:mz:institution:<code>|value` (only that institution's)."""
    value = raw.removeprefix("Patient/")
    system, _, ident = value.rpartition("|")
    if not system:
        return None, ident
    if not system.startswith(codes.INSTITUTION_SYSTEM):
        raise HTTPException(400, f"patient: an identifier system {codes.INSTITUTION_SYSTEM}<code>")
    return system.removeprefix(codes.INSTITUTION_SYSTEM), ident


def _dwellings_of(engine: Engine, patient_id: str) -> list[str]:
    with reading(engine) as conn:
        return list(
            conn.execute(
                select(residents.c.dwelling).where(residents.c.institution_patient_id == patient_id)
            ).scalars()
        )


def _code_filter(code: str | None) -> "tuple[str, ...]":
    if not code:
        return ()
    return tuple(c.rsplit("|", 1)[-1] for c in code.split(","))


def _has_code(resource: Resource, wanted: tuple[str, ...]) -> bool:
    concept = getattr(resource, "code", None)
    found = {c.code for c in (concept.coding or [])} if concept is not None else set()
    return not wanted or bool(found & set(wanted))


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/fhir", tags=["fhir"])
    ctx = console.ctx
    engine = getattr(ctx.registry, "engine", None)
    Op = Annotated[Operator, Depends(operator_dependency(console))]
    if not isinstance(engine, Engine) or ctx.timeseries is None:
        return r  # a hub without an operational store or history has nothing to search
    consents = ConsentStore(engine)
    alarm_store = AlarmStore(engine)
    store = ctx.timeseries

    async def search(
        request: Request,
        op: Operator,
        kind: type[Resource],
        patient: str,
        dates: list[str],
        categories: tuple[str, ...],
        code: str | None,
    ) -> Response:
        now = console.clock()
        start, end = parse_dates(dates, now)
        actor = Actor(op.username, op.role, source_of(request))
        wanted = _code_filter(code)
        found: list[Resource] = []
        institution, ident = patient_param(patient)
        for dwelling in await run_in_threadpool(_dwellings_of, engine, ident):
            try:
                disclosure = await run_in_threadpool(
                    functools.partial(
                        consents.disclose,
                        dwelling,
                        categories,
                        start,
                        end,
                        actor,
                        READ_ACTION,
                        now,
                        institution=institution,
                    )
                )
            except AuditFailed as exc:
                raise HTTPException(503, "the audit trail cannot be written; try again") from exc
            if disclosure is None:
                continue
            kinds = sensor_kinds(ctx.presence.board(), dwelling)
            got = await collect(
                disclosure,
                store,
                alarm_store,
                kinds,
                now,
                only=lambda res: isinstance(res, kind) and _has_code(res, wanted),
            )
            found += [res for res in got.resources if isinstance(res, kind)]
        body = bundle.to_json(bundle.searchset(found, str(request.url)))
        return Response(body, media_type=FHIR_JSON, headers={"Cache-Control": "no-store"})

    @r.get("/Observation")
    async def observations(
        request: Request,
        op: Op,
        patient: Annotated[str, Query(min_length=1, max_length=200)],
        date: Annotated[list[str] | None, Query()] = None,
        category: Annotated[str | None, Query()] = None,
        code: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """Vital signs (category vital-signs, LOINC codes) and NEWS2 (category survey)."""
        if category is None:
            cats: tuple[str, ...] = (VITAL_SIGNS, NEWS2)
        elif category.rsplit("|", 1)[-1] in _OBSERVATION_CATEGORIES:
            cats = (_OBSERVATION_CATEGORIES[category.rsplit("|", 1)[-1]],)
        else:
            raise HTTPException(400, f"category: one of {', '.join(_OBSERVATION_CATEGORIES)}")
        return await search(request, op, Observation, patient, date or [], cats, code)

    @r.get("/Flag")
    async def flags(
        request: Request,
        op: Op,
        patient: Annotated[str, Query(min_length=1, max_length=200)],
        date: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """The resident's alarms."""
        return await search(request, op, Flag, patient, date or [], (ALARMS,), None)

    return r
