"""The resident card and the audit trail over the JSON API (`/api/v1`).

Every console role reads a card and may reveal its key-safe code or care notes (a POST,
so no prefetch, crawler or browser history reveals one; each reveal audited with the
operator before the secret leaves the registry); only coordinators and admins change a
card; only they read the audit trail. Answers are `Cache-Control: no-store`: they name a
person. See docs/console.md, "The resident card".

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time, and `Op` is local to `router()`.
"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from alerts.routing import format_window
from hub.api.console import Console
from hub.api.deps import operator_dependency, source_of
from hub.commands import follow_card
from hub.context import Actor, AuditEntry, Operator, ResidentCard
from hub.errors import AuditFailed, Forbidden, InvalidValue, NotFound
from hub.resident_card import CARD_FIELDS, call_list

# Who reads the audit trail (and, by hub.resident_card.EDITOR_ROLES, changes cards).
AUDIT_READERS = frozenset({"coordinator", "admin"})
NO_STORE = "no-store"
T = TypeVar("T")


class CalleeOut(BaseModel):
    """A contact on the call list, in the order the routing asks them."""

    id: str
    name: str
    role: str  # family, neighbour, installer, care
    phone: str | None
    email: str | None
    language: str
    step: int | None  # 1 is asked first; None: not asked about a resident's alarm
    wait_s: float | None  # how long the routing waits for them to take it on
    windows: list[str]  # when they can be asked ("ma-vr 08:00-18:00"); empty: always
    installer: bool  # told of technical alarms


class ResidentOut(BaseModel):
    """The card without its secrets (`has_key_safe`, `has_care_notes` say whether they
    are stored), and the call list."""

    dwelling: str
    label: str
    name: str
    first_name: str
    date_of_birth: date | None
    address: str
    access: str
    gp_name: str
    gp_phone: str | None
    phone: str | None
    news2_scale: int
    on_oxygen: bool
    institution_patient_id: str | None
    has_key_safe: bool
    has_care_notes: bool
    updated_at: float | None
    updated_by: str | None
    contacts: list[CalleeOut]


class ResidentIn(BaseModel):
    """A change of the card. PATCH: only the fields given change; PUT: the card's fields
    are all set (one left out is cleared, the scale back to 1, oxygen off). The key-safe
    code and the care notes are write-only here and change only when given (also on PUT);
    null or "" clears a value."""

    model_config = ConfigDict(extra="forbid")

    # Strict: "2" is no scale and "yes" no answer; the registry checks the rest.
    name: StrictStr | None = None
    first_name: StrictStr | None = None
    date_of_birth: date | None = None  # "YYYY-MM-DD"
    address: StrictStr | None = None
    access: StrictStr | None = None
    gp_name: StrictStr | None = None
    gp_phone: StrictStr | None = None
    phone: StrictStr | None = None
    news2_scale: StrictInt | None = None
    on_oxygen: StrictBool | None = None
    institution_patient_id: StrictStr | None = None
    key_safe_code: StrictStr | None = None
    care_notes: StrictStr | None = None


# What PUT sets a card field left out to.
_PUT_DEFAULTS: dict[str, object] = {"news2_scale": 1, "on_oxygen": False}


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=200)] = ""  # e.g. "alarm 01J…": for the audit


class KeySafeOut(BaseModel):
    dwelling: str
    key_safe_code: str | None  # None: none stored


class CareNotesOut(BaseModel):
    dwelling: str
    care_notes: str | None  # None: none stored


class AuditOut(BaseModel):
    seq: int
    at: float
    actor: str
    role: str
    action: str
    dwelling: str | None
    detail: str
    source: str  # console, api, cli

    @classmethod
    def of(cls, e: AuditEntry) -> "AuditOut":
        return cls(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            role=e.role,
            action=e.action,
            dwelling=e.dwelling,
            detail=e.detail,
            source=e.source,
        )


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["residents"])
    registry = console.ctx.registry
    Op = Annotated[Operator, Depends(operator_dependency(console))]

    def actor(op: Operator, request: Request) -> Actor:
        return Actor(op.username, op.role, source_of(request))

    async def guarded(call: Callable[[], T]) -> T:
        """A registry call in a worker thread (it may wait for SQLite's write lock), with
        the API's answers to what it refuses."""
        try:
            return await run_in_threadpool(call)
        except NotFound as exc:
            raise HTTPException(404, "unknown dwelling") from exc
        except Forbidden as exc:
            raise HTTPException(403, str(exc)) from exc
        except InvalidValue as exc:
            raise HTTPException(422, str(exc)) from exc
        except AuditFailed as exc:
            raise HTTPException(
                503, "the audit trail cannot be written: nothing shown or changed; try again"
            ) from exc

    def card_out(card: ResidentCard) -> ResidentOut:
        d = registry.dwelling(card.dwelling)
        callees = call_list(registry.policy(card.dwelling), registry.contacts_for(card.dwelling))
        return ResidentOut(
            dwelling=card.dwelling,
            label=d.label if d is not None else card.dwelling,
            name=card.name,
            first_name=card.first_name,
            date_of_birth=card.date_of_birth,
            address=card.address,
            access=card.access,
            gp_name=card.gp_name,
            gp_phone=card.gp_phone,
            phone=card.phone,
            news2_scale=card.news2_scale,
            on_oxygen=card.on_oxygen,
            institution_patient_id=card.institution_patient_id,
            has_key_safe=card.has_key_safe,
            has_care_notes=card.has_care_notes,
            updated_at=card.updated_at,
            updated_by=card.updated_by,
            contacts=[
                CalleeOut(
                    id=c.contact.id,
                    name=c.contact.name,
                    role=c.contact.role,
                    phone=c.contact.phone,
                    email=c.contact.email,
                    language=c.contact.language,
                    step=c.step,
                    wait_s=c.wait_s,
                    windows=[format_window(w) for w in c.contact.windows],
                    installer=c.installer,
                )
                for c in callees
            ],
        )

    @r.get("/dwellings/{dwelling_id}/resident")
    async def get_resident(dwelling_id: str, op: Op, response: Response) -> ResidentOut:
        """The resident card (no secrets) with the contacts in routing order."""
        response.headers["Cache-Control"] = NO_STORE
        card = registry.resident_card(dwelling_id)
        if card is None:
            raise HTTPException(404, "unknown dwelling")
        return card_out(card)

    @r.post("/dwellings/{dwelling_id}/resident/key-safe")
    async def reveal_key_safe(
        dwelling_id: str,
        op: Op,
        request: Request,
        response: Response,
        body: RevealIn | None = None,
    ) -> KeySafeOut:
        """The key-safe code; the reveal is audited with the operator first."""
        response.headers["Cache-Control"] = NO_STORE
        reason = (body or RevealIn()).reason
        who, now = actor(op, request), console.clock()
        code = await guarded(lambda: registry.reveal_key_safe(dwelling_id, who, now, reason=reason))
        return KeySafeOut(dwelling=dwelling_id, key_safe_code=code or None)

    @r.post("/dwellings/{dwelling_id}/resident/care-notes")
    async def reveal_care_notes(
        dwelling_id: str,
        op: Op,
        request: Request,
        response: Response,
        body: RevealIn | None = None,
    ) -> CareNotesOut:
        """The care notes (medical); the reveal is audited with the operator first."""
        response.headers["Cache-Control"] = NO_STORE
        reason = (body or RevealIn()).reason
        who, now = actor(op, request), console.clock()
        notes = await guarded(
            lambda: registry.reveal_care_notes(dwelling_id, who, now, reason=reason)
        )
        return CareNotesOut(dwelling=dwelling_id, care_notes=notes or None)

    async def change(
        dwelling_id: str, changes: dict[str, Any], op: Operator, request: Request
    ) -> ResidentOut:
        who, now = actor(op, request), console.clock()
        before = registry.resident_card(dwelling_id)
        card = await guarded(lambda: registry.update_resident(dwelling_id, changes, who, now))
        await follow_card(console.ctx.commands, before, card, who)  # the edge's care plan
        return card_out(card)

    @r.patch("/dwellings/{dwelling_id}/resident")
    async def patch_resident(
        dwelling_id: str, body: ResidentIn, op: Op, request: Request, response: Response
    ) -> ResidentOut:
        """Change the fields given (coordinator or admin; 403 otherwise)."""
        response.headers["Cache-Control"] = NO_STORE
        return await change(dwelling_id, body.model_dump(exclude_unset=True), op, request)

    @r.put("/dwellings/{dwelling_id}/resident")
    async def put_resident(
        dwelling_id: str, body: ResidentIn, op: Op, request: Request, response: Response
    ) -> ResidentOut:
        """Set the whole card (coordinator or admin; 403 otherwise); the secrets only
        when given."""
        response.headers["Cache-Control"] = NO_STORE
        given = body.model_dump(exclude_unset=True)
        changes = {name: given.get(name, _PUT_DEFAULTS.get(name)) for name in CARD_FIELDS}
        changes.update({k: v for k, v in given.items() if k not in CARD_FIELDS})
        return await change(dwelling_id, changes, op, request)

    @r.get("/audit")
    async def audit(
        op: Op,
        response: Response,
        dwelling: str | None = None,
        since: Annotated[float | None, Query(ge=0)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditOut]:
        """The audit trail, newest first (coordinator or admin; 403 otherwise)."""
        response.headers["Cache-Control"] = NO_STORE
        if op.role not in AUDIT_READERS:
            raise HTTPException(403, f"role {op.role!r} may not read the audit trail")
        entries = await guarded(lambda: registry.audit_log(dwelling, since, limit))
        return [AuditOut.of(e) for e in entries]

    return r
