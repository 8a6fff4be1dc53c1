"""Server-rendered pages: login, the live console, the board, and acknowledgement links."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from markupsafe import Markup
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.errors import (
    InvalidTransitionError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
    UnknownAlarmError,
)
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome
from alerts.model import Response as Response_
from alerts.present import date_time, duration
from alerts.texts import KIND_LABELS, SEVERITY_LABELS, language
from hub.api import overview
from hub.api.auth import (
    Throttled,
    csrf_ok,
    csrf_token,
    origin_ok,
    safe_next,
    session_operator,
    throttled_verify,
)
from hub.api.console import Console
from hub.api.dwelling_view import dwelling_page
from hub.api.live import LiveHub
from hub.api.present import (
    SEVERITY_ORDER,
    RenderFailures,
    ack_view,
    alarm_view,
    board_view,
    broken_alarm,
    queue_order,
    record_id,
    summary,
)
from hub.api.texts import RELATIVE, UI
from hub.errors import NotFound, StorageError

log = logging.getLogger(__name__)

RECENT_LIMIT = 25  # resolved alarms shown under the open ones, last resolved first
RECENT_SCAN = 500  # newest alarms (by receive time) searched for them
NOTE_MAX = 2000
# The token is in the URL: keep it out of caches and out of Referer headers to other
# sites. Not "no-referrer": Chromium then sends "Origin: null" with the form's POST,
# which the origin check must refuse.
ACK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


@dataclass(frozen=True, slots=True)
class Card:
    """One alarm card, rendered on its own so that a record which cannot be formatted
    costs one placeholder card, not the page or the live stream."""

    id: str
    version: str  # what console.js compares to keep an unchanged card
    html: Markup


def router(console: Console, live: LiveHub) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    ctx = console.ctx
    alarms = console.alarms
    templates = console.templates

    def base(request: Request, lang: str) -> dict[str, Any]:
        return {
            "t": UI[lang],
            "lang": lang,
            "other_lang": "en" if lang == "nl" else "nl",
            "operator": session_operator(request),
            "csrf": csrf_token(request),
            "relative_json": json.dumps(RELATIVE[lang]),
            "demo": ctx.console.demo,
            "demo_hint": ctx.console.demo_login_hint if ctx.console.demo else "",
        }

    failures = RenderFailures()

    def centre_reachable() -> bool | None:
        """The alarm-centre link's state for the top bar (None: no link configured)."""
        state = alarms.centre_state()
        return None if state is None else bool(state.reachable)

    def macro(name: str, *args: Any) -> Markup:
        out = getattr(templates.get_template("_alarm.html").module, name)(*args)
        if not isinstance(out, Markup):  # autoescape is on: a macro returns Markup
            raise TypeError(f"macro {name} returned {type(out).__name__}, not Markup")
        return out

    def card(rec: AlarmRecord, lang: str, csrf: str, now: float) -> Card:
        t = UI[lang]
        try:
            view = alarm_view(rec, console.label(rec.dwelling), lang, console.tz, now)
            return Card(rec.id, view.version, macro("card", view, t, csrf))
        except Exception as exc:  # one alarm must never take the console down for everyone
            failures.report("alarm", record_id(rec), exc)
        b = broken_alarm(rec)
        try:
            return Card(b.id, b.version, macro("broken", b, t, csrf))
        except Exception as exc:
            failures.report("alarm placeholder", b.id, exc)
            text = t["undisplayable_alarm"].format(id=b.id)
            html = Markup('<article class="alarm broken"><h3>{}</h3></article>').format(text)
            return Card(b.id, "broken", html)

    def lists(lang: str, csrf: str) -> dict[str, Any]:
        now = console.clock()
        open_ = queue_order(alarms.open_alarms())
        # recent() is ordered by receive time; an alarm open for long and resolved just now
        # must still show (first): look further back and order by resolution.
        recent = sorted(
            (a for a in alarms.recent(RECENT_SCAN) if a.state is AlarmState.RESOLVED),
            key=lambda a: a.resolved_at or 0.0,
            reverse=True,
        )
        return {
            "open_cards": [card(a, lang, csrf, now) for a in open_],
            "recent_cards": [card(a, lang, csrf, now) for a in recent[:RECENT_LIMIT]],
            "summary": summary(open_, lang, centre_reachable()),
        }

    def filters(lang: str) -> dict[str, Any]:
        """The queue's filter choices: severities and kinds, in the console's language."""
        return {
            "severities": [(s.value, SEVERITY_LABELS[lang][s]) for s in SEVERITY_ORDER],
            "kinds": [(k.value, KIND_LABELS[lang][k]) for k in AlarmKind],
        }

    def board(lang: str) -> dict[str, Any]:
        return {
            "board": board_view(
                ctx.registry.dwellings(),
                ctx.presence.board(),
                alarms.open_alarms(),
                lang,
                console.clock(),
                failures,
            )
        }

    def render(name: str, values: dict[str, Any]) -> str:
        return templates.get_template(name).render(values)

    def login_redirect(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    # -- login ----------------------------------------------------------------------------

    @r.get("/login")
    async def login_page(request: Request, next: str = "/") -> Response:
        lang = console.lang(request)
        if session_operator(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return templates.TemplateResponse(
            request, "login.html", {**base(request, lang), "next": safe_next(next), "error": ""}
        )

    @r.post("/login")
    async def login(request: Request) -> Response:
        lang = console.lang(request)
        form = await request.form()
        username = str(form.get("username", ""))[:128]
        password = str(form.get("password", ""))[:1024]
        target = safe_next(str(form.get("next", "/")))
        status = 403
        headers: dict[str, str] = {}
        if not origin_ok(request, ctx.console.public_url) or not csrf_ok(
            request, str(form.get("csrf", "")), anonymous=True
        ):
            error = UI[lang]["error_csrf"]
        else:
            found = await throttled_verify(
                ctx.registry,
                console.limiter,
                console.attempt(request, username, form=True),
                password,
                console.clock,
                console.sleep,
            )
            error = UI[lang]["login_failed"]
            status = 401
            if isinstance(found, Throttled):
                wait = math.ceil(found.wait_s)
                error = UI[lang]["login_throttled"].format(wait=duration(wait, lang))
                status = 429
                headers["Retry-After"] = str(wait)
            elif found is not None:
                response = RedirectResponse(target, status_code=303)
                try:
                    console.sessions.start(request, response, found)
                except NotFound:
                    pass  # removed or disabled while the password was being checked
                else:
                    console.devices.issue(response, found.username, console.clock())
                    log.info("operator %s logged in to the console", found.username)
                    return response
        return templates.TemplateResponse(
            request,
            "login.html",
            {**base(request, lang), "next": target, "error": error, "username": username},
            status_code=status,
            headers=headers,
        )

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        response = RedirectResponse("/login", status_code=303)
        if origin_ok(request, ctx.console.public_url) and csrf_ok(
            request, str(form.get("csrf", ""))
        ):
            # Ends the session in the registry: a copied cookie is dead too. The language
            # stays (anonymous cookie).
            console.sessions.end(request, response)
        return response

    # -- console ----------------------------------------------------------------------------

    @r.get("/")
    async def console_page(request: Request) -> Response:
        if session_operator(request) is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = {**base(request, lang), **lists(lang, csrf_token(request)), **board(lang)}
        return templates.TemplateResponse(
            request, "console.html", {**values, **filters(lang), "page": "alarms"}
        )

    @r.get("/dwellings")
    async def dwellings_page(request: Request) -> Response:
        if session_operator(request) is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = {**base(request, lang), **lists(lang, csrf_token(request)), **board(lang)}
        return templates.TemplateResponse(
            request, "dwellings.html", {**values, "page": "dwellings"}
        )

    @r.get("/dwellings/{dwelling_id}")
    async def dwelling_detail(request: Request, dwelling_id: str) -> Response:
        if session_operator(request) is None:
            return login_redirect(request)
        lang = console.lang(request)
        # The top bar's summary; the alarm cards are not on this page.
        top = {
            "summary": summary(alarms.open_alarms(), lang, centre_reachable()),
            "page": "dwellings",
        }
        values = {**base(request, lang), **top}
        found = console.find_dwelling(dwelling_id)
        if found is None:
            return templates.TemplateResponse(
                request, "not_found.html", {**values, "dwelling_id": dwelling_id}, status_code=404
            )
        registered, health = found
        now = console.clock()
        store_error = False
        try:
            ov = await overview.load(ctx.timeseries, dwelling_id, now)
        except StorageError as exc:
            log.warning("dwelling page %s: %s", dwelling_id, exc)
            store_error = True
            ov = await overview.load(None, dwelling_id, now)
        open_here = sum(1 for a in alarms.open_alarms() if a.dwelling == dwelling_id)
        view = dwelling_page(ov, registered, health, open_here, lang, console.tz, failures)
        return templates.TemplateResponse(
            request, "dwelling.html", {**values, "dw": view, "store_error": store_error}
        )

    @r.post("/alarms/{alarm_id}/{action}")
    async def alarm_form(request: Request, alarm_id: str, action: str) -> Response:
        """The no-JavaScript path; console.js uses the JSON API instead."""
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        form = await request.form()
        if not origin_ok(request, ctx.console.public_url) or not csrf_ok(
            request, str(form.get("csrf", ""))
        ):
            return Response(UI[console.lang(request)]["error_csrf"], status_code=403)
        note = str(form.get("note", ""))[:NOTE_MAX]
        try:
            if action == "ack":
                await alarms.acknowledge(alarm_id, op.username, note, console.clock())
            elif action == "resolve":
                await alarms.resolve(alarm_id, op.username, note, console.clock())
            else:
                return Response("unknown action", status_code=404)
        except UnknownAlarmError:
            return Response("unknown alarm", status_code=404)
        except InvalidTransitionError as exc:
            return Response(str(exc), status_code=409)
        return RedirectResponse("/", status_code=303)

    @r.get("/events")
    async def events(request: Request) -> Response:
        if session_operator(request) is None:
            return Response("login required", status_code=401)
        lang = console.lang(request)
        csrf = csrf_token(request)
        queue = live.subscribe()

        async def stream() -> AsyncIterator[dict[str, str]]:
            sent_lists: object = None
            sent_board: object = None
            try:
                while True:
                    if console.sessions.lookup(request) is None:
                        return  # logged out, removed or disabled: the stream ends with it
                    out: list[dict[str, str]] = []
                    try:
                        values = lists(lang, csrf)
                        # Only what the cards show; relative times tick in the browser.
                        sig = [
                            (c.id, c.version) for c in values["open_cards"] + values["recent_cards"]
                        ]
                        if sig != sent_lists:
                            common = {**values, "t": UI[lang], "csrf": csrf, "lang": lang}
                            data = {
                                "open": render("_open.html", common),
                                "recent": render("_recent.html", common),
                                "summary": render("_summary.html", common),
                                "open_count": values["summary"].open,
                            }
                            out.append({"event": "alarms", "data": json.dumps(data)})
                            sent_lists = sig
                        b = board(lang)
                        if b["board"] != sent_board:
                            html = render("_board.html", {**b, "t": UI[lang], "lang": lang})
                            out.append({"event": "board", "data": json.dumps({"html": html})})
                            sent_board = b["board"]
                    except Exception as exc:
                        # The stream stays up (a closed one would be reopened into the
                        # same failure); the next change or refresh tries again.
                        failures.report("live update", "/events", exc)
                    for item in out:
                        yield item
                    try:
                        change = await asyncio.wait_for(
                            queue.get(), timeout=console.board_refresh_s
                        )
                    except TimeoutError:
                        continue
                    if change is None:
                        return  # the app is shutting down
                    while not queue.empty():  # a burst of changes: render once
                        if queue.get_nowait() is None:
                            return
            finally:
                live.unsubscribe(queue)

        return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})

    # -- acknowledgement links (no login: the signed token is the authority) ---------------

    def ack_page(request: Request, token: str, status: int, **values: Any) -> Response:
        lang = values.pop("lang", None) or console.lang(request)
        return templates.TemplateResponse(
            request,
            "ack.html",
            {"t": UI[lang], "lang": lang, "token": token, "message": "", "form": False, **values},
            status_code=status,
            headers=ACK_HEADERS,
        )

    def ack_state(request: Request, token: str) -> Response | tuple[Any, str]:
        """The alarm and page language for `token`, or the error page to show."""
        try:
            claim = alarms.verify_ack_token(token)
        except TokenExpiredError:
            return ack_page(request, token, 410, message=UI[console.lang(request)]["ack_expired"])
        except TokenRevokedError:
            # The contact was removed (or re-added): never acknowledges, whatever the state.
            return ack_page(request, token, 410, message=UI[console.lang(request)]["ack_revoked"])
        except TokenError:
            return ack_page(request, token, 400, message=UI[console.lang(request)]["ack_invalid"])
        rec = alarms.get(claim.alarm_id)
        if rec is None:
            return ack_page(request, token, 404, message=UI[console.lang(request)]["ack_unknown"])
        contact = alarms.contact(rec.dwelling, claim.contact_id)
        lang = language(contact.language if contact else None, console.lang(request))
        return rec, lang

    def alarm_facts(rec: Any, lang: str) -> dict[str, Any]:
        view = ack_view(rec, console.label(rec.dwelling), lang, console.tz, failures)
        return {"alarm": view, "when": view.when}

    def ack_status(rec: AlarmRecord, lang: str) -> str:
        """Who took the alarm on and how far they got (empty: nobody yet)."""
        t = UI[lang]
        by = rec.acknowledged_by or "?"
        if rec.response is Response_.CLOSED:
            return str(t["ack_status_closed"].format(by=by))
        if rec.response is Response_.ARRIVED:
            return str(t["ack_status_arrived"].format(by=by))
        if rec.state is AlarmState.ACKNOWLEDGED:
            when = date_time(rec.acknowledged_at, console.tz, lang)
            return str(t["ack_status_on_my_way"].format(by=by, when=when))
        return ""

    def ack_actions(rec: AlarmRecord) -> tuple[str, ...]:
        """The steps a mantelzorger can still take on this alarm, in order."""
        if rec.state is AlarmState.RESOLVED or rec.response is Response_.CLOSED:
            return ()
        if rec.response is Response_.ARRIVED:
            return ("closed",)
        if rec.response is Response_.ON_MY_WAY:
            return ("arrived", "closed")
        return ("on_my_way", "arrived")

    def ack_form(
        request: Request, token: str, status: int, rec: AlarmRecord, lang: str, **values: Any
    ) -> Response:
        t = UI[lang]
        actions = ack_actions(rec)
        values.setdefault(
            "message",
            ack_status(rec, lang)
            or (t["ack_resolved"] if rec.state is AlarmState.RESOLVED else ""),
        )
        return ack_page(
            request,
            token,
            status,
            lang=lang,
            form=bool(actions),
            actions=actions,
            outcomes=[(o.value, t[f"outcome_{o.value}"]) for o in Outcome],
            centre=rec.centre_required and rec.state is not AlarmState.RESOLVED,
            **alarm_facts(rec, lang),
            **values,
        )

    @r.get("/ack/{token}")
    async def ack_link_page(request: Request, token: str) -> Response:
        # GET never changes anything: mail scanners open links to check them.
        found = ack_state(request, token)
        if isinstance(found, Response):
            return found
        rec, lang = found
        return ack_form(request, token, 200, rec, lang)

    @r.post("/ack/{token}")
    async def ack_link(request: Request, token: str) -> Response:
        if not origin_ok(request, ctx.console.public_url):
            return Response("cross-site request refused", status_code=403)
        found = ack_state(request, token)
        if isinstance(found, Response):
            return found
        rec, lang = found
        t = UI[lang]
        form = await request.form()
        note = str(form.get("note", ""))[:NOTE_MAX]
        try:
            action = Response_(str(form.get("action", Response_.ON_MY_WAY.value)))
            outcome = Outcome(str(form.get("outcome", ""))) if action is Response_.CLOSED else None
        except ValueError:
            return ack_form(request, token, 400, rec, lang, message=t["ack_pick_outcome"])
        try:
            rec = await alarms.respond_link(token, action, note, outcome)
        except InvalidTransitionError:
            return ack_page(
                request, token, 409, lang=lang, message=t["ack_resolved"], **alarm_facts(rec, lang)
            )
        except TokenExpiredError:
            return ack_page(request, token, 410, lang=lang, message=t["ack_expired"])
        except TokenRevokedError:
            return ack_page(request, token, 410, lang=lang, message=t["ack_revoked"])
        except TokenError:
            return ack_page(request, token, 400, lang=lang, message=t["ack_invalid"])
        except UnknownAlarmError:
            return ack_page(request, token, 404, lang=lang, message=t["ack_unknown"])
        if action is Response_.CLOSED:
            msg = t[
                "ack_done_closed" if rec.state is AlarmState.RESOLVED else "ack_done_closed_centre"
            ]
        else:
            msg = t[f"ack_done_{action.value}"]
        return ack_form(request, token, 200, rec, lang, message=msg, done=True)

    return r
