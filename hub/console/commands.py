"""The dwelling page's remote-check panel: the "Testalarm" and "Statusrapport" buttons and
the commands sent lately with the edge's answers (hub.commands).

- `POST /dwellings/{id}/commands/test-alarm` and `/commands/status-report`: a signed-in
  operator's form (origin and CSRF checked), audited in their name and sent; back to the
  dwelling page with a notice (`?cmd=sent|unavailable|audit_failed|invalid|not_found|too_soon`).
- `command_panel(...)`: the panel's rows, part of the page's live part, so an answer that
  arrives shows without a reload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.present import moment
from hub.api.console import Console
from hub.commands import SentCommand, recent_commands
from hub.console.guard import operator_form
from hub.console.texts import UI
from hub.console.views import Views
from hub.context import Actor
from hub.errors import AuditFailed, BrokerUnavailable, InvalidValue, NotFound, TooSoon
from sensors import commands as wire

log = logging.getLogger(__name__)

# What the console's buttons send (the others, with arguments, come from the API and CLI).
BUTTONS: Final = {"test-alarm": wire.TEST_ALARM, "status-report": wire.STATUS_REPORT}
NOTICES: Final = ("sent", "unavailable", "audit_failed", "invalid", "not_found", "too_soon")
ROWS: Final = 8


@dataclass(frozen=True, slots=True)
class CommandRow:
    when: str
    when_ts: float
    what: str
    by: str
    state: str  # waiting, ok, refused, no_answer (the row's colour)
    result: str


@dataclass(frozen=True, slots=True)
class CommandPanel:
    dwelling: str
    rows: tuple[CommandRow, ...]
    can_send: bool


def _result(c: SentCommand, console: Console, lang: str, now: float) -> str:
    t = UI[lang]
    ack = c.ack
    if ack is None:
        return t["cmd_waiting"] if c.state == "waiting" else t["cmd_no_answer"]
    if ack.result == "refused":
        return t["cmd_refused"].format(reason=ack.reason)
    d = ack.detail
    if c.name == wire.TEST_ALARM:
        rec = console.alarms.get(str(d.get("alarm_id", "")))
        if rec is None:
            return t["cmd_test_missing"]
        return t["cmd_test_arrived"].format(when=moment(rec.received_at, console.tz, now, lang))
    if c.name == wire.STATUS_REPORT:
        refused = d.get("implausible")
        return t["cmd_report"].format(
            ok=d.get("sensors_ok", "?"),
            silent=d.get("sensors_silent", "?"),
            failed=d.get("sensors_failed", "?"),
            spool=d.get("spool_depth", "?"),
            version=d.get("agent_version", "?"),
        ) + (
            t["cmd_report_refused"].format(n=refused)
            if isinstance(refused, int) and refused
            else ""
        )
    if c.name == wire.SILENCE:
        until = d.get("until")
        if isinstance(until, int | float):
            return t["cmd_silenced_until"].format(when=moment(until, console.tz, now, lang))
        return t["cmd_silence_lifted"]
    return t["cmd_ok"]


def _what(name: str, lang: str) -> str:
    return UI[lang].get(f"cmd_{name}", name)


async def command_panel(views: Views, dwelling_id: str, lang: str) -> CommandPanel | None:
    """The panel of a registered dwelling (None for one only presence knows); a list that
    cannot be read is reported and shown empty, never the page's end."""
    console = views.console
    ctx = console.ctx
    if ctx.registry.dwelling(dwelling_id) is None:
        return None
    now = console.clock()
    try:
        sent = await recent_commands(ctx.registry, ctx.timeseries, dwelling_id, now, ROWS)
    except Exception as exc:
        views.failures.report("commands", dwelling_id, exc)
        sent = []
    rows = tuple(
        CommandRow(
            moment(c.sent_at, console.tz, now, lang),
            c.sent_at,
            _what(c.name, lang),
            c.by,
            c.state,
            _result(c, console, lang, now),
        )
        for c in sent
    )
    return CommandPanel(dwelling_id, rows, ctx.commands is not None)


def notice(request: Request, lang: str) -> str:
    """The notice after a button's POST (`?cmd=`), or ""."""
    which = request.query_params.get("cmd", "")
    return UI[lang][f"cmd_notice_{which}"] if which in NOTICES else ""


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    public_url = console.ctx.console.public_url

    def refused(request: Request) -> Response:
        return Response(UI[console.lang(request)]["error_csrf"], status_code=403)

    @r.post("/dwellings/{dwelling_id}/commands/{button}")
    async def send(request: Request, dwelling_id: str, button: str) -> Response:
        got = await operator_form(request, public_url, lambda: refused(request))
        if isinstance(got, Response):
            return got
        op, _form = got
        name = BUTTONS.get(button)
        sender = console.ctx.commands
        outcome = "sent"
        if name is None or sender is None:
            outcome = "invalid"
        else:
            try:
                await sender.send(dwelling_id, name, {}, Actor(op.username, op.role, "console"))
            except NotFound:
                outcome = "not_found"
            except InvalidValue:
                outcome = "invalid"
            except TooSoon:
                outcome = "too_soon"
            except AuditFailed as exc:
                log.error("command %s to %s not sent: %s", name, dwelling_id, exc)
                outcome = "audit_failed"
            except BrokerUnavailable as exc:
                log.warning("%s", exc)
                outcome = "unavailable"
        back = f"/dwellings/{quote(dwelling_id, safe='')}?cmd={outcome}#commands"
        return RedirectResponse(back, status_code=303)

    return r
