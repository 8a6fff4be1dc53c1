"""The monthly report for the care organisation (`GET /reports?month=YYYY-MM`): the
month's figures (alerts.impact) in total and per dwelling, with charts and a link to the
CSV (hub.api.reports). Default: the last full month in the hub's time zone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from alerts import impact
from hub.api.auth import session_operator
from hub.console.guard import login_redirect
from hub.console.report_view import month_name, picker, report_page
from hub.console.texts import UI
from hub.console.views import Views


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    tz = ZoneInfo(console.tz)

    @r.get("/reports")
    async def reports_page(request: Request) -> Response:
        if session_operator(request) is None:
            return login_redirect(request)
        lang = console.lang(request)
        t = UI[lang]
        now = console.clock()
        default = impact.default_month(now, tz)
        asked = request.query_params.get("month", "").strip()
        values: dict[str, Any] = views.layout(request, lang, "reports")
        # The language link keeps the month the page is about.
        values["lang_href"] = "?" + urlencode(
            {**({"month": asked} if asked else {}), "lang": values["other_lang"]}
        )
        error = ""
        month: impact.Month | None = None
        try:
            month = impact.Month.parse(asked) if asked else default
        except ValueError:
            error = t["report_bad_month"].format(month=asked, example=default)
        if month is not None:
            try:
                impact.check_begun(month, now, tz)
            except ValueError:
                name = month_name(month, lang)  # first in the sentence: a capital
                error = t["report_not_begun"].format(month=name[:1].upper() + name[1:])
                month = None
        if month is None:
            page = {
                **values,
                "error": error,
                "picker": picker(None, now, tz, lang, default),
                "default": (str(default), month_name(default, lang)),
            }
            return console.templates.TemplateResponse(
                request, "reports.html", page, status_code=400
            )
        registry = console.ctx.registry
        registered = [d.id for d in registry.dwellings()]
        found = await run_in_threadpool(
            impact.load, console.alarms, month, tz, now, dwellings=registered
        )
        page = {
            **values,
            "r": report_page(found, console.label, set(registered), lang),
            "picker": picker(month, now, tz, lang, default),
        }
        return console.templates.TemplateResponse(request, "reports.html", page)

    return r
