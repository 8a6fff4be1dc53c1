"""JSON API for claiming and handling an alarm (docs/console.md, "Claiming and handling").

    POST /api/v1/alarms/{id}/claim     {"take_over": bool}
    POST /api/v1/alarms/{id}/release
    POST /api/v1/alarms/{id}/notes     {"note": str}
    POST /api/v1/alarms/{id}/actions   {"action": str, "contact_id"?: str, "note"?: str}
    GET  /api/v1/alarms/{id}/handling  the claim, the script (session language), call list

Another operator's claim answers 409 with who holds it and since when
(`claimed_handler`, for every route that lets `ClaimedError` through).

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from alerts import handling
from alerts.errors import ClaimedError
from alerts.model import CONTACT_ACTIONS, NOTE_MAX, HandlingAction
from alerts.texts import ROLE_LABELS, language
from hub.api.api import AlarmOut, AlarmReplies
from hub.api.console import Console
from hub.api.deps import operator_dependency
from hub.context import Operator


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    take_over: bool = False


class HandlingNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(min_length=1, max_length=NOTE_MAX)]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: HandlingAction
    contact_id: Annotated[str, Field(max_length=200)] | None = None
    note: Annotated[str, Field(max_length=NOTE_MAX)] = ""


class ClaimOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    by: str  # the operator's username
    name: str  # their display name (the username when they have none)
    at: float
    mine: bool  # held by the operator asking


class ActionOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    label: str
    needs_contact: bool


class StepOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    text: str
    actions: list[ActionOut]


class CallOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    contact_id: str
    name: str
    role: str
    role_label: str
    phone: str | None
    has_phone: bool
    step: int | None  # place in the routing order; null: not asked by the routing
    installer: bool
    language: str


class HandlingOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    alarm_id: str
    kind: str
    state: str
    lang: str
    claim: ClaimOut | None
    script: list[StepOut]
    call_list: list[CallOut]
    actions: list[ActionOut]  # every action there is, with its label (for the timeline)


def claimed_handler(console: Console) -> Callable[[Request, Exception], Awaitable[Response]]:
    """409 for an action on an alarm another operator holds: who and since when."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ClaimedError):  # registered for ClaimedError only
            raise exc
        return JSONResponse(
            {
                "detail": str(exc),
                "claimed_by": exc.holder,
                "claimed_by_name": console.operator_name(exc.holder),
                "claimed_at": exc.since,
            },
            status_code=409,
        )

    return handle


def _action(action: HandlingAction, lang: str) -> ActionOut:
    return ActionOut(
        action=action.value,
        label=handling.action_label(action, lang),
        needs_contact=action in CONTACT_ACTIONS,
    )


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["handling"])
    alarms = console.alarms
    Op = Annotated[Operator, Depends(operator_dependency(console))]
    act = AlarmReplies(console).act

    @r.post("/alarms/{alarm_id}/claim")
    async def claim(alarm_id: str, op: Op, body: ClaimIn | None = None) -> AlarmOut:
        """Claim the alarm ("in behandeling"); `take_over` moves another operator's claim."""
        take_over = (body or ClaimIn()).take_over
        return await act(alarms.claim(alarm_id, op.username, console.clock(), take_over=take_over))

    @r.post("/alarms/{alarm_id}/release")
    async def release(alarm_id: str, op: Op) -> AlarmOut:
        return await act(alarms.release(alarm_id, op.username, console.clock()))

    @r.post("/alarms/{alarm_id}/notes")
    async def add_note(alarm_id: str, op: Op, body: HandlingNoteIn) -> AlarmOut:
        return await act(alarms.add_note(alarm_id, op.username, body.note, console.clock()))

    @r.post("/alarms/{alarm_id}/actions")
    async def record_action(alarm_id: str, op: Op, body: ActionIn) -> AlarmOut:
        return await act(
            alarms.record_action(
                alarm_id,
                op.username,
                body.action,
                console.clock(),
                contact_id=body.contact_id,
                note=body.note,
            )
        )

    @r.get("/alarms/{alarm_id}/handling")
    async def handling_of(alarm_id: str, op: Op, request: Request) -> HandlingOut:
        """Who holds the alarm, its kind's script in the operator's language, and the
        dwelling's call list in the routing order."""
        rec = alarms.get(alarm_id)
        if rec is None:
            raise HTTPException(404, "unknown alarm")
        lang = language(console.lang(request))
        claim = None
        if rec.claimed_by is not None:
            claim = ClaimOut(
                by=rec.claimed_by,
                name=console.operator_name(rec.claimed_by),
                at=rec.claimed_at or 0.0,
                mine=rec.claimed_by == op.username,
            )
        return HandlingOut(
            alarm_id=rec.id,
            kind=rec.kind.value,
            state=rec.state.value,
            lang=lang,
            claim=claim,
            script=[
                StepOut(
                    key=st.key, text=st.text(lang), actions=[_action(a, lang) for a in st.actions]
                )
                for st in handling.script(rec.kind)
            ],
            call_list=[
                CallOut(
                    contact_id=c.contact_id,
                    name=c.name,
                    role=c.role,
                    role_label=ROLE_LABELS[lang].get(c.role, c.role),
                    phone=c.phone,
                    has_phone=c.has_phone,
                    step=c.step,
                    installer=c.installer,
                    language=c.language,
                )
                for c in alarms.call_list(rec.dwelling, rec.kind)
            ],
            actions=[_action(a, lang) for a in HandlingAction],
        )

    return r
