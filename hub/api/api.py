"""JSON API under /api/v1. Auth: the console's session cookie or HTTP Basic (scripts).

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time, and `Op` is local to `router()`.
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from alerts.errors import ClaimedError, HandlingError, InvalidTransitionError, UnknownAlarmError
from alerts.model import NOTE_MAX, AlarmRecord, Outcome
from hub.api import overview
from hub.api.console import Console
from hub.api.deps import operator_dependency
from hub.console.present import RenderFailures, board_view, guarded
from hub.context import Operator
from hub.errors import StorageError
from hub.storage.base import Bucket


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
    response: str | None = None  # on_my_way, arrived, closed (a mantelzorger's progress)
    responder: str | None = None  # the contact id of who took it on
    outcome: str | None = None
    centre_required: bool = False  # the alarm centre holds it: an operator closes it
    centre_handed_at: float | None = None
    centre_acked_at: float | None = None  # the receiver's DC-09 ACK
    claimed_by: str | None = None  # the operator handling it (username), kept once resolved
    claimed_at: float | None = None
    # Set when the record cannot be given in full (then `detail` is empty and times that
    # are no finite number are 0 or null): the list still answers, this one says so.
    display_error: str | None = None

    @classmethod
    def of(cls, rec: AlarmRecord, label: str) -> "AlarmOut":
        out = cls(**asdict(rec), dwelling_label=label)
        out.model_dump_json()  # raises here, not halfway through the response
        return out

    @classmethod
    def placeholder(cls, rec: AlarmRecord, label: str) -> "AlarmOut":
        """What is certain of a record `of` cannot give: its id, where, kind and state."""

        def text(get: Callable[[], object], default: str = "unknown") -> str:
            try:
                return str(get())
            except Exception:
                return default

        def moment(get: Callable[[], object]) -> float | None:
            try:
                v = get()
                return float(v) if isinstance(v, int | float) and math.isfinite(v) else None
            except Exception:
                return None

        return cls(
            id=text(lambda: rec.id, "?"),
            dwelling=text(lambda: rec.dwelling, "?"),
            dwelling_label=label,
            kind=text(lambda: rec.kind.value),
            severity=text(lambda: rec.severity.value),
            state=text(lambda: rec.state.value),
            source=text(lambda: rec.source),
            raised_at=moment(lambda: rec.raised_at) or 0.0,
            received_at=moment(lambda: rec.received_at) or 0.0,
            notified_at=moment(lambda: rec.notified_at),
            acknowledged_at=moment(lambda: rec.acknowledged_at),
            acknowledged_by=None,
            resolved_at=moment(lambda: rec.resolved_at),
            resolved_by=None,
            note="",
            sensor=None,
            detail={},
            notifications_sent=0,
            display_error="cannot be displayed",
        )


class TimelineOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: float
    what: str
    by: str | None
    note: str
    contact: str | None = None  # the contact a handling action was about


class AlarmDetailOut(AlarmOut):
    """One alarm with its whole timeline (`GET /api/v1/alarms/{id}`)."""

    timeline: list[TimelineOut]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=NOTE_MAX)] = ""


class CloseIn(NoteIn):
    """An operator closes an alarm with its outcome (the alarm centre's close)."""

    outcome: Outcome


class CentreLinkOut(BaseModel):
    """The SIA DC-09 link to the alarm centre, as the last message or link test left it."""

    model_config = ConfigDict(frozen=True)

    configured: bool
    reachable: bool | None = None
    receiver: str | None = None
    last_ack_at: float | None = None
    last_error: str | None = None
    checked_at: float | None = None


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


class News2Out(BaseModel):
    ts: float
    kind: str
    score: int | None
    band: str | None
    partial: bool | None
    missing: list[str]
    red_flag: bool | None
    subscores: dict[str, int]


class VitalSeriesOut(BaseModel):
    sensor: str
    quantity: str
    last_t: float | None
    last_value: float | None
    points: list[Bucket]  # the hub's own dataclasses serve as the schema too


class EventOut(BaseModel):
    id: str
    kind: str
    ts: float
    received_at: float
    sensor: str | None
    detail: dict[str, float | int | bool | str | None]


class OverviewOut(BaseModel):
    dwelling: str
    label: str
    time: float
    window_start: float
    bucket_s: float
    stored: bool
    routine: overview.RoutineProfile | None
    news2: News2Out | None
    band_history: list[overview.BandChange]
    vitals: list[VitalSeriesOut]
    events: list[EventOut]

    @classmethod
    def of(cls, ov: overview.Overview, label: str) -> "OverviewOut":
        n = ov.news2
        return cls(
            dwelling=ov.dwelling,
            label=label,
            time=ov.now,
            window_start=ov.start,
            bucket_s=ov.bucket_s,
            stored=ov.stored,
            routine=ov.routine,
            news2=News2Out(
                ts=n.ts,
                kind=n.kind,
                score=n.score,
                band=n.band,
                partial=n.partial,
                missing=list(n.missing),
                red_flag=n.red_flag,
                subscores=dict(n.subscores),
            )
            if n
            else None,
            band_history=list(ov.band_history),
            vitals=[
                VitalSeriesOut(
                    sensor=v.sensor,
                    quantity=v.quantity,
                    last_t=v.last.t if v.last else None,
                    last_value=v.last.value if v.last else None,
                    points=list(v.buckets),
                )
                for v in ov.vitals
            ],
            events=[
                EventOut(
                    id=e.id,
                    kind=e.kind,
                    ts=e.ts,
                    received_at=e.received_at,
                    sensor=e.sensor,
                    detail=dict(e.detail),
                )
                for e in ov.events
            ],
        )


class AlarmReplies:
    """How the API answers with alarms: each as an AlarmOut, or a placeholder when the
    record cannot be given in full (so one poisoned alarm never costs a whole list); and
    an operator's step on one, with the API's answers to what can go wrong."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._failures = RenderFailures()

    def out(self, rec: AlarmRecord) -> AlarmOut:
        label = self._console.label(rec.dwelling)
        return guarded(
            self._failures,
            "alarm",
            str(rec.id),
            lambda: AlarmOut.of(rec, label),
            lambda: AlarmOut.placeholder(rec, label),
        )

    async def act(self, change: Awaitable[AlarmRecord]) -> AlarmOut:
        try:
            rec = await change
        except UnknownAlarmError as exc:
            raise HTTPException(404, "unknown alarm") from exc
        except ClaimedError:
            raise  # 409 naming who holds it (hub.api.handling.claimed_handler)
        except InvalidTransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
        except HandlingError as exc:  # a note or handling action that cannot be recorded
            raise HTTPException(422, str(exc)) from exc
        return self.out(rec)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    time: float


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["api"])
    ctx = console.ctx
    alarms = console.alarms
    Op = Annotated[Operator, Depends(operator_dependency(console))]

    replies = AlarmReplies(console)
    out, act = replies.out, replies.act

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
    async def get_alarm(alarm_id: str, op: Op) -> AlarmDetailOut:
        rec = alarms.get(alarm_id)
        if rec is None:
            raise HTTPException(404, "unknown alarm")
        timeline = [TimelineOut(**asdict(e)) for e in alarms.timeline(alarm_id)]
        return AlarmDetailOut(**out(rec).model_dump(), timeline=timeline)

    @r.post("/alarms/{alarm_id}/ack")
    async def ack_alarm(alarm_id: str, op: Op, body: NoteIn | None = None) -> AlarmOut:
        note = (body or NoteIn()).note
        return await act(alarms.acknowledge(alarm_id, op.username, note, console.clock()))

    @r.post("/alarms/{alarm_id}/resolve")
    async def resolve_alarm(alarm_id: str, op: Op, body: NoteIn | None = None) -> AlarmOut:
        note = (body or NoteIn()).note
        return await act(alarms.resolve(alarm_id, op.username, note, console.clock()))

    @r.post("/alarms/{alarm_id}/close")
    async def close_alarm(alarm_id: str, op: Op, body: CloseIn) -> AlarmOut:
        """Close with an outcome (false alarm, family help, care provider, ambulance, other).
        Only an operator closes an alarm the alarm centre holds."""
        clock = console.clock()
        return await act(alarms.close_alarm(alarm_id, op.username, body.outcome, body.note, clock))

    @r.get("/alarm-centre")
    async def alarm_centre(op: Op) -> CentreLinkOut:
        return centre_link()

    def centre_link() -> CentreLinkOut:
        state = alarms.centre_state()
        if state is None:
            return CentreLinkOut(configured=False)
        receiver = state.receiver
        return CentreLinkOut(
            configured=True,
            reachable=state.reachable,
            receiver=None if receiver is None else f"{receiver.host}:{receiver.port}",
            last_ack_at=state.last_ack_at,
            last_error=state.last_error,
            checked_at=state.checked_at,
        )

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

    @r.get("/dwellings/{dwelling_id}/overview")
    async def dwelling_overview(
        dwelling_id: str,
        op: Op,
        days: Annotated[int, Query(ge=1, le=31)] = overview.WINDOW_DAYS,
        events: Annotated[int, Query(ge=1, le=200)] = overview.EVENT_LIMIT,
    ) -> OverviewOut:
        """Learned routine, NEWS2, band history, hourly medians of the vital signs over
        `days`, and the last `events` early-warning events (see docs/console.md)."""
        if console.find_dwelling(dwelling_id) is None:
            raise HTTPException(404, "unknown dwelling")
        try:
            ov = await overview.load(
                ctx.timeseries, dwelling_id, console.clock(), days=days, event_limit=events
            )
        except StorageError as exc:
            raise HTTPException(503, "history unavailable, try again") from exc
        return OverviewOut.of(ov, console.label(dwelling_id))

    @r.get("/stats")
    async def stats(op: Op) -> dict[str, Any]:
        counters = dict(ctx.ingest_stats.counters())
        rejected = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith("rejected.")}
        s = alarms.stats()
        return {
            "ingest": counters,
            "rejected": rejected,
            "refused_by_dwelling": ctx.ingest_stats.refused(),
            # Parked messages (every worker's, from the shared store): each one is data
            # held back or an alarm not processed; `mz admin dead-letters` lists them.
            "parked": None if ctx.parked is None else ctx.parked.parked_count(),
            "alarms": s.as_dict() if hasattr(s, "as_dict") else s,
            "alarm_centre": centre_link().model_dump(),
            # InfluxDB writes: written, buffered (on disk now), dropped (buffer full), ...;
            # None on the embedded SQLite store.
            "timeseries": _write_stats(ctx.timeseries),
        }

    return r


def _write_stats(store: object) -> dict[str, int] | None:
    stats = getattr(store, "write_stats", None)
    return cast("dict[str, int] | None", stats()) if callable(stats) else None
