"""Commands to a dwelling's edge, as JSON (hub.commands; names and arguments are
sensors.commands').

- `POST /api/v1/dwellings/{id}/commands` `{"name": "test_alarm", "args": {}}`: checked,
  audited in the caller's name and sent; 202 with the command's id. `care_plan` is for a
  coordinator or an admin (as the resident card is); the others for every operator. 404 an
  unknown dwelling, 422 a command the edge would refuse, 429 a second test alarm within
  2 min (`Retry-After`), 503 broker or audit trail down.
- `GET /api/v1/dwellings/{id}/commands`: the commands sent lately, newest first, each with
  its state (`waiting`, `ok`, `refused`, `no_answer`) and the edge's answer.

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time.
"""

import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from hub.api.console import Console
from hub.api.deps import operator_dependency, source_of
from hub.commands import recent_commands
from hub.context import Actor, Operator
from hub.errors import AuditFailed, BrokerUnavailable, InvalidValue, NotFound, TooSoon
from hub.resident_card import EDITOR_ROLES
from sensors import commands as wire
from sensors.contract import DetailValue


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=40)
    args: dict[str, DetailValue] = Field(default_factory=dict)


class CommandSentOut(BaseModel):
    id: str
    dwelling: str
    name: str
    state: str = "waiting"


class CommandOut(BaseModel):
    id: str
    name: str
    args: str
    sent_at: float
    by: str
    source: str
    state: str
    result: str | None = None  # ok / refused, once answered
    reason: str = ""
    answered_at: float | None = None
    detail: dict[str, DetailValue] = Field(default_factory=dict)


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["commands"])
    ctx = console.ctx
    Op = Annotated[Operator, Depends(operator_dependency(console))]

    @r.post("/dwellings/{dwelling_id}/commands", status_code=202)
    async def send_command(
        dwelling_id: str, body: CommandIn, op: Op, request: Request
    ) -> CommandSentOut:
        if ctx.commands is None:
            raise HTTPException(503, "commands are not wired in this hub")
        if body.name == wire.CARE_PLAN and op.role not in EDITOR_ROLES:
            raise HTTPException(403, "the care plan is changed by a coordinator or an admin")
        actor = Actor(op.username, op.role, source_of(request))
        try:
            cmd = await ctx.commands.send(dwelling_id, body.name, dict(body.args), actor)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except InvalidValue as exc:
            raise HTTPException(422, exc.reason) from exc
        except TooSoon as exc:
            wait = str(math.ceil(exc.retry_after_s))
            raise HTTPException(429, str(exc), headers={"Retry-After": wait}) from exc
        except (AuditFailed, BrokerUnavailable) as exc:
            raise HTTPException(503, str(exc)) from exc
        return CommandSentOut(id=cmd.id, dwelling=dwelling_id, name=cmd.name)

    @r.get("/dwellings/{dwelling_id}/commands")
    async def list_commands(dwelling_id: str, op: Op) -> list[CommandOut]:
        if ctx.registry.dwelling(dwelling_id) is None:
            raise HTTPException(404, f"dwelling not found: {dwelling_id}")
        sent = await recent_commands(ctx.registry, ctx.timeseries, dwelling_id, console.clock(), 50)
        return [
            CommandOut(
                id=c.id,
                name=c.name,
                args=c.args,
                sent_at=c.sent_at,
                by=c.by,
                source=c.source,
                state=c.state,
                result=None if c.ack is None else c.ack.result,
                reason="" if c.ack is None else c.ack.reason,
                answered_at=None if c.ack is None else c.ack.ts,
                detail={} if c.ack is None else c.ack.detail,
            )
            for c in sent
        ]

    return r
