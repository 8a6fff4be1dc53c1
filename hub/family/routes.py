"""The family page's routes, all under /familie (docs/family.md).

    GET  /familie                         -> the session's dwelling page, or the login
    GET  /familie/login, POST             e-mail address + password (throttled)
    POST /familie/uitloggen
    GET  /familie/link/{token}, POST      from an alarm message: a short session, no password
    GET  /familie/woning/{dwelling}       the page: status, open alarms, history, summary
    GET  /familie/api/woning/{dwelling}   the same as JSON with HTML fragments (live refresh)
    POST /familie/alarmen/{alarm}         ik ga erheen / ik ben er / afsluiten (form or fetch)
    POST /familie/voorkeuren              the daily summary on or off
    GET  /familie/manifest.webmanifest, /familie/sw.js, /familie/offline   the PWA shell

Every page and JSON answer is for the session's dwelling only: another dwelling's page,
or acting on another dwelling's alarm, is a 404 (nothing says whether it exists).
State changes need the session's CSRF token (form field `csrf` or `X-CSRF-Token`) and a
same-site Origin; GET never changes anything (the link page has a button).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from pathlib import Path
from typing import Any, Final, Protocol, cast

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from alerts.errors import InvalidTransitionError, TokenError, TokenExpiredError, UnknownAlarmError
from alerts.model import AlarmRecord, AlarmState, Contact, Outcome
from alerts.model import Response as Step
from alerts.present import duration
from alerts.tokens import AckClaim
from hub.api.auth import DeviceCookies, Throttled, anonymous_csrf_token, origin_ok, throttled
from hub.api.auth import csrf_ok as login_csrf_ok
from hub.api.console import Console
from hub.api.throttle import Attempt
from hub.errors import NotFound, StorageError
from hub.family.schedule import parse_time
from hub.family.sessions import BASE, FamilyDirectory, FamilyPolicy, FamilySessions
from hub.family.status import load_activity, load_routine, resident_status
from hub.family.texts import LANGS, TEXTS
from hub.family.views import (
    HISTORY_DAYS,
    alarm_card,
    alarm_order,
    history_row,
    outcome_choices,
    status_view,
    when,
)
from hub.family_access import FamilySession

log = logging.getLogger(__name__)

HERE: Final = Path(__file__).parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"
NOTE_MAX: Final = 2000
HISTORY_LIMIT: Final = 200
# Personal data: never kept by a browser cache or the service worker.
NO_STORE: Final = {"Cache-Control": "no-store"}
# The token is in the URL: out of caches and out of Referer headers to other sites.
LINK_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


class FamilyAlarms(Protocol):
    """The part of alerts.service.AlarmService the family page uses."""

    def get(self, alarm_id: str) -> AlarmRecord | None: ...
    def contact(self, dwelling: str, contact_id: str) -> Contact | None: ...
    def verify_ack_token(self, token: str, alarm_id: str | None = None) -> AckClaim: ...
    def dwelling_alarms(
        self, dwelling: str, since: float, limit: int = 200
    ) -> list[AlarmRecord]: ...
    def for_family(self, alarm: AlarmRecord) -> bool: ...
    async def respond_as_contact(
        self,
        alarm_id: str,
        contact_id: str,
        response: Step,
        note: str,
        outcome: Outcome | None = None,
    ) -> AlarmRecord: ...


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def router(console: Console) -> APIRouter:
    """The family page's routes; `console` brings the hub context, the alarm service, the
    clock and the login limiter (shared with the console's login: one count per client
    address)."""
    r = APIRouter(include_in_schema=False)
    ctx = console.ctx
    alarms = cast(FamilyAlarms, console.alarms)
    registry = cast(FamilyDirectory, ctx.registry)
    https = ctx.console.public_url.startswith("https://")
    policy = FamilyPolicy(secure=https)
    sessions = FamilySessions(registry, console.clock, policy)
    devices = DeviceCookies(ctx.console.secret_key, secure=https, path=f"{BASE}/login")
    templates = make_templates()
    summary_time = parse_time(ctx.console.family_summary_time).strftime("%H:%M")
    refresh_s = max(1.0, console.board_refresh_s)
    name_key = hmac.new(ctx.console.secret_key.encode(), b"mz-family-login", "sha256").digest()

    def login_name(email: str) -> str:
        digest = hmac.new(name_key, email.strip().casefold().encode(), "sha256").hexdigest()
        return f"family:{digest[:16]}"

    public = ctx.console.public_url

    # -- helpers ---------------------------------------------------------------------------

    def lang_of(request: Request, session: FamilySession | None) -> str:
        """?lang= (remembered), else the session's choice, else the contact's language,
        else the browser's earlier choice, else the hub's language."""
        asked = request.query_params.get("lang")
        if asked in LANGS:
            request.session["lang"] = asked
            if session is not None:
                sessions.set_language(request, asked)
            return str(asked)
        if session is not None:
            for lang in (session.language, session.contact.language):
                if lang in LANGS:
                    return str(lang)
        kept = request.session.get("lang")
        if kept in LANGS:
            return str(kept)
        return ctx.console.language if ctx.console.language in LANGS else "nl"

    def base(request: Request, lang: str, **values: Any) -> dict[str, Any]:
        return {
            "t": TEXTS[lang],
            "lang": lang,
            "other_lang": "en" if lang == "nl" else "nl",
            **values,
        }

    def page(
        request: Request,
        name: str,
        values: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return templates.TemplateResponse(
            request, name, values, status_code=status, headers=headers or NO_STORE
        )

    def to_login(request: Request, message: str = "") -> Response:
        target = f"{BASE}/login" + (f"?m={message}" if message else "")
        return RedirectResponse(target, status_code=303, headers=NO_STORE)

    def login_form(
        request: Request,
        lang: str,
        *,
        error: str = "",
        email: str = "",
        message: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The login page, with the form's CSRF token (in the anonymous cookie)."""
        csrf = anonymous_csrf_token(request)
        values = base(request, lang, csrf=csrf, error=error, email=email, message=message)
        return page(request, "login.html", values, status, headers)

    def home(session: FamilySession) -> str:
        return f"{BASE}/woning/{session.dwelling}"

    def csrf_ok(session: FamilySession, supplied: str | None) -> bool:
        return supplied is not None and hmac.compare_digest(
            session.csrf.encode(), supplied.encode()
        )

    def label(dwelling: str) -> str:
        d = registry.dwelling(dwelling)
        return d.label if d is not None else dwelling

    def visible(rec: AlarmRecord | None, session: FamilySession) -> bool:
        """The session may see (and act on) this alarm: its own dwelling's, no
        operators-only one."""
        return rec is not None and rec.dwelling == session.dwelling and alarms.for_family(rec)

    def contacts_of(dwelling: str) -> dict[str, Contact]:
        return {c.id: c for c in ctx.registry.contacts_for(dwelling)}

    def macro(name: str, *args: Any) -> Markup:
        out = getattr(templates.get_template("_parts.html").module, name)(*args)
        if not isinstance(out, Markup):
            raise TypeError(f"macro {name} returned {type(out).__name__}, not Markup")
        return out

    async def view(session: FamilySession, lang: str) -> dict[str, Any]:
        """Everything the page shows, for the session's dwelling only."""
        now = console.clock()
        dwelling = session.dwelling
        tz = console.tz
        since = now - HISTORY_DAYS * 86400.0
        records = await run_in_threadpool(alarms.dwelling_alarms, dwelling, since, HISTORY_LIMIT)
        open_ = alarm_order([a for a in records if a.state is not AlarmState.RESOLVED])
        health = next((h for h in ctx.presence.board() if h.dwelling == dwelling), None)
        try:
            facts = await load_activity(ctx.timeseries, dwelling, now)
            routine = await load_routine(ctx.timeseries, dwelling, now)
        except StorageError as exc:
            log.warning("family page %s: %s", dwelling, exc)
            facts = await load_activity(None, dwelling, now)
            routine = None
        status = status_view(
            resident_status(health, facts, routine, len(open_), now, tz), lang, tz, now
        )
        people = contacts_of(dwelling)
        me = session.contact
        return {
            "status": status,
            "cards": [alarm_card(a, me, people, lang, tz, now) for a in open_],
            "history": [history_row(a, me, people, lang, tz, now) for a in records],
            "updated": now,
        }

    def fragments(values: dict[str, Any], lang: str, csrf: str) -> dict[str, Any]:
        t = TEXTS[lang]
        outcomes = outcome_choices(lang)
        return {
            "status": {
                "version": values["status"].version,
                "html": str(macro("status", values["status"], t)),
            },
            "alarms": [
                {"id": c.id, "version": c.version, "html": str(macro("card", c, t, csrf, outcomes))}
                for c in values["cards"]
            ],
            "history": str(macro("history", values["history"], t, HISTORY_DAYS)),
            "open": len(values["cards"]),
            "updated": t["updated"].format(
                when=when(values["updated"], console.tz, values["updated"], lang)
            ),
        }

    # -- entry -----------------------------------------------------------------------------

    @r.get(BASE)
    @r.get(f"{BASE}/")  # the app's start URL (inside the service worker's scope)
    async def start(request: Request) -> Response:
        session = sessions.current(request)
        if session is None:
            return to_login(request)
        return RedirectResponse(home(session), status_code=303, headers=NO_STORE)

    @r.get(f"{BASE}/login")
    async def login_page(request: Request) -> Response:
        session = sessions.current(request)
        if session is not None:
            return RedirectResponse(home(session), status_code=303, headers=NO_STORE)
        lang = lang_of(request, None)
        t = TEXTS[lang]
        message = {"uit": t["logged_out"], "verlopen": t["session_ended"]}.get(
            request.query_params.get("m", ""), ""
        )
        return login_form(request, lang, message=message)

    @r.post(f"{BASE}/login")
    async def login(request: Request) -> Response:
        lang = lang_of(request, None)
        t = TEXTS[lang]
        form = await request.form()
        email = str(form.get("email", ""))[:254].strip()
        password = str(form.get("password", ""))[:1024]
        status, headers = 403, dict(NO_STORE)
        if not origin_ok(request, public) or not login_csrf_ok(
            request, str(form.get("csrf", "")), anonymous=True
        ):
            error = t["error_csrf"]
        else:
            # Counted like the console's logins (the same limiter), under a name of its
            # own that is no e-mail address (the limiter logs names; addresses stay out).
            name = login_name(email)
            host = request.client.host if request.client else "unknown"
            attempt = Attempt(name, host, devices.device(request, name, console.clock()))

            async def check() -> Contact | None:
                return await run_in_threadpool(registry.verify_contact, email, password)

            found = await throttled(
                console.limiter, attempt, check, console.clock, console.sleep,
                what="family logins",
            )  # fmt: skip
            error, status = t["login_failed"], 401
            if isinstance(found, Throttled):
                wait = math.ceil(found.wait_s)
                error = t["login_throttled"].format(wait=duration(wait, lang))
                status = 429
                headers["Retry-After"] = str(wait)
            elif found is not None:
                response = RedirectResponse(
                    f"{BASE}/woning/{found.dwelling}", status_code=303, headers=NO_STORE
                )
                try:
                    sessions.start(request, response, found.id, "password")
                except NotFound:
                    pass  # removed (or its login taken away) while the password was checked
                else:
                    devices.issue(response, name, console.clock())
                    log.info("contact %s logged in to the family page", found.id)
                    return response
        return login_form(request, lang, error=error, email=email, status=status, headers=headers)

    @r.post(f"{BASE}/uitloggen")
    async def logout(request: Request) -> Response:
        session = sessions.current(request)
        form = await request.form()
        response = to_login(request, "uit")
        if (
            session is not None
            and origin_ok(request, public)
            and csrf_ok(session, str(form.get("csrf", "")))
        ):
            sessions.end(request, response)
        return response

    # -- from an alarm message's link ------------------------------------------------------

    def link_claim(request: Request, token: str) -> tuple[Contact, str, str] | str:
        """The contact, dwelling label and alarm id the link is for, or the message why
        not."""
        lang = lang_of(request, None)
        try:
            claim = alarms.verify_ack_token(token)
        except TokenExpiredError:
            return str(TEXTS[lang]["link_expired"])
        except TokenError:
            return str(TEXTS[lang]["link_invalid"])
        rec = alarms.get(claim.alarm_id)
        contact = alarms.contact(rec.dwelling, claim.contact_id) if rec is not None else None
        if rec is None or contact is None:
            return str(TEXTS[lang]["link_invalid"])
        return contact, label(rec.dwelling), rec.id

    @r.get(f"{BASE}/link/{{token}}")
    async def link_page(request: Request, token: str) -> Response:
        # GET changes nothing (mail scanners open links): the button starts the session.
        found = link_claim(request, token)
        if isinstance(found, str):
            lang = lang_of(request, None)
            return page(
                request, "link.html", base(request, lang, error=found, token=""), 410, LINK_HEADERS
            )
        contact, dwelling_label, _ = found
        lang = contact.language if contact.language in LANGS else lang_of(request, None)
        if request.query_params.get("lang") in LANGS:
            lang = lang_of(request, None)
        n = max(1, round(policy.link_max_s / 3600))
        hours = TEXTS[lang]["hours_one" if n == 1 else "hours"].format(n=n)
        return page(
            request,
            "link.html",
            base(request, lang, error="", token=token, dwelling=dwelling_label, hours=hours),
            200,
            LINK_HEADERS,
        )

    @r.post(f"{BASE}/link/{{token}}")
    async def link_start(request: Request, token: str) -> Response:
        if not origin_ok(request, public):
            return Response("cross-site request refused", status_code=403, headers=NO_STORE)
        found = link_claim(request, token)
        if isinstance(found, str):
            lang = lang_of(request, None)
            return page(
                request, "link.html", base(request, lang, error=found, token=""), 410, LINK_HEADERS
            )
        contact, _, alarm_id = found
        # To the page, at the alarm the link was for.
        response = RedirectResponse(
            f"{BASE}/woning/{contact.dwelling}#alarm-{alarm_id}", status_code=303, headers=NO_STORE
        )
        try:
            sessions.start(request, response, contact.id, "link")
        except NotFound:
            lang = lang_of(request, None)
            return page(
                request,
                "link.html",
                base(request, lang, error=TEXTS[lang]["link_invalid"], token=""),
                410,
                LINK_HEADERS,
            )
        log.info("contact %s opened the family page from an alarm link", contact.id)
        return response

    # -- the page --------------------------------------------------------------------------

    @r.get(f"{BASE}/woning/{{dwelling_id}}")
    async def dwelling_page(request: Request, dwelling_id: str) -> Response:
        session = sessions.current(request)
        if session is None:
            return to_login(request, "verlopen" if request.cookies.get("mz_family") else "")
        lang = lang_of(request, session)
        if dwelling_id != session.dwelling:
            return page(request, "not_found.html", base(request, lang, home=home(session)), 404)
        values = await view(session, lang)
        t = TEXTS[lang]
        done = request.query_params.get("gedaan", "")
        message = t.get(f"done_{done}", "") if done in (
            "on_my_way", "arrived", "closed", "closed_centre"
        ) else ""  # fmt: skip
        if request.query_params.get("opgeslagen") == "1":
            message = t["summary_saved"]
        return page(
            request,
            "page.html",
            base(
                request,
                lang,
                **values,
                csrf=session.csrf,
                session=session,
                dwelling_label=label(session.dwelling),
                outcomes=outcome_choices(lang),
                summary_on=registry.daily_summary(session.contact.id),
                summary_time=summary_time,
                summary_reachable=bool(session.contact.targets),
                history_days=HISTORY_DAYS,
                refresh_ms=int(refresh_s * 1000),
                api=f"{BASE}/api/woning/{session.dwelling}",
                message=message,
            ),
        )

    @r.get(f"{BASE}/api/woning/{{dwelling_id}}")
    async def dwelling_json(request: Request, dwelling_id: str) -> Response:
        session = sessions.current(request)
        if session is None:
            return JSONResponse({"error": "login required"}, status_code=401, headers=NO_STORE)
        if dwelling_id != session.dwelling:
            return JSONResponse({"error": "not found"}, status_code=404, headers=NO_STORE)
        lang = lang_of(request, session)
        values = await view(session, lang)
        return JSONResponse(fragments(values, lang, session.csrf), headers=NO_STORE)

    # -- acting on an alarm -----------------------------------------------------------------

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def answer(
        request: Request, session: FamilySession, status: int, message: str, done: str = ""
    ) -> Response:
        if wants_json(request):
            return JSONResponse(
                {"ok": 200 <= status < 300, "message": message},
                status_code=status,
                headers=NO_STORE,
            )
        if 200 <= status < 300:
            return RedirectResponse(
                f"{home(session)}?gedaan={done}", status_code=303, headers=NO_STORE
            )
        return Response(
            message, status_code=status, headers=NO_STORE, media_type="text/plain; charset=utf-8"
        )

    async def form_of(request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(await request.body() or b"{}")
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        form = await request.form()
        return {k: str(v) for k, v in form.items()}

    @r.post(f"{BASE}/alarmen/{{alarm_id}}")
    async def act(request: Request, alarm_id: str) -> Response:
        session = sessions.current(request)
        if session is None:
            if wants_json(request):
                return JSONResponse({"error": "login required"}, status_code=401, headers=NO_STORE)
            return to_login(request, "verlopen")
        lang = lang_of(request, session)
        t = TEXTS[lang]
        form = await form_of(request)
        supplied = request.headers.get("x-csrf-token") or form.get("csrf")
        if not origin_ok(request, public) or not csrf_ok(session, supplied):
            return answer(request, session, 403, t["error_csrf"])
        rec = alarms.get(alarm_id)
        if not visible(rec, session):
            return answer(request, session, 404, t["unknown_alarm"])
        note = form.get("note", "")[:NOTE_MAX]
        try:
            step = Step(form.get("action", ""))
            outcome = Outcome(form.get("outcome", "")) if step is Step.CLOSED else None
        except ValueError:
            return answer(request, session, 400, t["pick_outcome"])
        try:
            rec = await alarms.respond_as_contact(alarm_id, session.contact.id, step, note, outcome)
        except InvalidTransitionError:
            return answer(request, session, 409, t["already_over"])
        except UnknownAlarmError:
            return answer(request, session, 404, t["unknown_alarm"])
        done = step.value
        if step is Step.CLOSED and rec.state is not AlarmState.RESOLVED:
            done = "closed_centre"
        return answer(request, session, 200, t[f"done_{done}"], done)

    @r.post(f"{BASE}/voorkeuren")
    async def preferences(request: Request) -> Response:
        session = sessions.current(request)
        if session is None:
            return to_login(request, "verlopen")
        lang = lang_of(request, session)
        form = await form_of(request)
        supplied = request.headers.get("x-csrf-token") or form.get("csrf")
        if not origin_ok(request, public) or not csrf_ok(session, supplied):
            return answer(request, session, 403, TEXTS[lang]["error_csrf"])
        on = form.get("daily_summary") in ("1", "on", "true")
        registry.set_daily_summary(session.contact.id, on, console.clock())
        log.info("contact %s: daily summary %s", session.contact.id, "on" if on else "off")
        if wants_json(request):
            return JSONResponse(
                {"ok": True, "message": TEXTS[lang]["summary_saved"]}, headers=NO_STORE
            )
        return RedirectResponse(f"{home(session)}?opgeslagen=1", status_code=303, headers=NO_STORE)

    # -- the installable shell (no personal data) --------------------------------------------

    @r.get(f"{BASE}/manifest.webmanifest")
    async def manifest(request: Request) -> Response:
        lang = lang_of(request, sessions.current(request))
        t = TEXTS[lang]
        body = {
            "name": t["app_name"],
            "short_name": "MZ familie" if lang == "nl" else "MZ family",
            "lang": lang,
            "start_url": f"{BASE}/",
            "scope": f"{BASE}/",
            "display": "standalone",
            "background_color": "#f4f7f6",
            "theme_color": "#0b5e55",
            "icons": [
                {"src": f"{BASE}/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
                {"src": f"{BASE}/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
                {
                    "src": f"{BASE}/static/icon-maskable-512.png",
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
                {"src": f"{BASE}/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            ],
        }
        return JSONResponse(
            body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"}
        )

    @r.get(f"{BASE}/sw.js")
    async def service_worker() -> Response:
        # At /familie/sw.js, not under /static: a worker's scope is its own directory.
        return FileResponse(
            STATIC / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": f"{BASE}/"},
        )

    @r.get(f"{BASE}/offline")
    async def offline(request: Request) -> Response:
        lang = lang_of(request, None)
        return page(
            request, "offline.html", base(request, lang), 200, {"Cache-Control": "no-cache"}
        )

    return r


def static_files() -> StaticFiles:
    """The family page's static files, for `app.mount(STATIC_PATH, ...)`."""
    return StaticFiles(directory=STATIC)


STATIC_PATH: Final = f"{BASE}/static"
