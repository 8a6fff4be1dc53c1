"""JSON API under /api/v1. Auth: the console's session cookie or HTTP Basic (scripts).

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time, and `Op` is local to `router()`.
"""

import math
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from alerts.errors import InvalidTransitionError, UnknownAlarmError
from alerts.model import AlarmRecord
from hub.api.auth import (
    Throttled,
    basic_credentials,
    csrf_ok,
    origin_ok,
    session_operator,
    throttled_verify,
)
from hub.api.console import Console
from hub.api.present import board_view
from hub.context import Operator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AlarmOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    dwelling: str
    dwelling_label: str
    kind: str
    severity: str
    state: str
    source: str
    raised_at: float
    received_at: float
    notified_at: float | None
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    note: str
    sensor: str | None
    detail: dict[str, float | int | bool | str | None]
    notifications_sent: int

    @classmethod
    def of(cls, rec: AlarmRecord, label: str) -> "AlarmOut":
        return cls(**asdict(rec), dwelling_label=label)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=2000)] = ""


class SensorOut(BaseModel):
    sensor: str
    kind: str
    state: str
    battery: str


class DwellingOut(BaseModel):
    id: str
    label: str
    online: bool
    last_seen: float | None
    spool_depth: int | None
    open_alarms: int
    sensors: list[SensorOut]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    time: float


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["api"])
    ctx = console.ctx
    alarms = console.alarms

    async def operator(request: Request) -> Operator:
        op = session_operator(request)
        via_session = op is not None
        creds = basic_credentials(request) if op is None else None
        if creds is not None:
            # Basic is a login too: the same throttle as the login form, or it is a way round.
            found = await throttled_verify(
                ctx.registry,
                console.throttle,
                console.login_keys(request, creds[0]),
                *creds,
                console.clock,
            )
            if isinstance(found, Throttled):
                wait = math.ceil(found.wait_s)
                raise HTTPException(
                    429,
                    f"too many failed logins; try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
            op = found
        if op is None:
            # The console's own fetches say so: no Basic prompt in the browser for them.
            console_js = request.headers.get("x-requested-with") == "mz-console"
            headers = {} if console_js else {"WWW-Authenticate": 'Basic realm="mz-hub"'}
            raise HTTPException(401, "login required", headers=headers)
        if request.method not in SAFE_METHODS:
            if not origin_ok(request, ctx.console.public_url):
                raise HTTPException(403, "cross-site request refused")
            if via_session and not csrf_ok(request, request.headers.get("x-csrf-token")):
                raise HTTPException(403, "missing or wrong CSRF token")
        return op

    Op = Annotated[Operator, Depends(operator)]

    def out(rec: AlarmRecord) -> AlarmOut:
        return AlarmOut.of(rec, console.label(rec.dwelling))

    @r.get("/health")
    async def health() -> Health:
        return Health(time=console.clock())

    @r.get("/alarms")
    async def list_alarms(
        op: Op,
        state: Literal["open", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AlarmOut]:
        recs = alarms.open_alarms()[:limit] if state == "open" else alarms.recent(limit)
        return [out(a) for a in recs]

    @r.get("/alarms/{alarm_id}")
    async def get_alarm(alarm_id: str, op: Op) -> AlarmOut:
        rec = alarms.get(alarm_id)
        if rec is None:
            raise HTTPException(404, "unknown alarm")
        return out(rec)

    async def act(alarm_id: str, what: str, op: Operator, body: NoteIn) -> AlarmOut:
        try:
            if what == "ack":
                rec = await alarms.acknowledge(alarm_id, op.username, body.note, console.clock())
            else:
                rec = await alarms.resolve(alarm_id, op.username, body.note, console.clock())
        except UnknownAlarmError as exc:
            raise HTTPException(404, "unknown alarm") from exc
        except InvalidTransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
        return out(rec)

    @r.post("/alarms/{alarm_id}/ack")
    async def ack_alarm(alarm_id: str, op: Op, body: NoteIn | None = None) -> AlarmOut:
        return await act(alarm_id, "ack", op, body or NoteIn())

    @r.post("/alarms/{alarm_id}/resolve")
    async def resolve_alarm(alarm_id: str, op: Op, body: NoteIn | None = None) -> AlarmOut:
        return await act(alarm_id, "resolve", op, body or NoteIn())

    @r.get("/dwellings")
    async def dwellings(op: Op) -> list[DwellingOut]:
        views = board_view(
            ctx.registry.dwellings(),
            ctx.presence.board(),
            alarms.open_alarms(),
            "en",
            console.clock(),
        )
        return [
            DwellingOut(
                id=v.id,
                label=v.label,
                online=v.online,
                last_seen=v.last_seen_ts,
                spool_depth=v.spool_depth,
                open_alarms=v.open_alarms,
                sensors=[
                    SensorOut(sensor=s.sensor, kind=s.kind, state=s.state, battery=s.battery)
                    for s in v.sensors
                ],
            )
            for v in views
        ]

    @r.get("/stats")
    async def stats(op: Op) -> dict[str, Any]:
        counters = dict(ctx.ingest_stats.counters())
        rejected = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("rejected.")}
        s = alarms.stats()
        return {
            "ingest": counters,
            "rejected": rejected,
            "alarms": s.as_dict() if hasattr(s, "as_dict") else s,
        }

    return r
