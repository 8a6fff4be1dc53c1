"""Reports for the care organisation under /api/v1/reports: the monthly figures
(alerts.impact) as JSON and CSV. Console roles only (hub.api.deps).

No `from __future__ import annotations` here: FastAPI reads the route signatures at run
time, and `Op` is local to `router()`.
"""

import io
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from alerts import impact, report
from hub.api.console import Console
from hub.api.deps import operator_dependency
from hub.context import Operator


class DwellingReportOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    dwelling: str  # the pseudonymous id
    label: str  # the registry's label (the id when it has none)
    figures: impact.Figures


class MonthlyOut(BaseModel):
    """`GET /api/v1/reports/monthly`: one month's figures per dwelling and in total."""

    model_config = ConfigDict(frozen=True)

    month: str  # "2026-11"
    timezone: str  # the hub's: the month runs from local midnight to local midnight
    start: float  # UNIX seconds
    end: float  # exclusive
    start_local: str
    end_local: str
    made_at: float
    complete: bool  # false: the month is not over, counted up to made_at
    min_sample: int  # a p50/p90 of fewer values is flagged small_sample
    percentile_method: str
    total: impact.Figures
    dwellings: list[DwellingReportOut]


MonthQuery = Annotated[
    str | None, Query(description="YYYY-MM in the hub's time zone; default the last full month")
]
DwellingQuery = Annotated[str | None, Query(description="one dwelling's figures only")]


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    Op = Annotated[Operator, Depends(operator_dependency(console))]
    tz = ZoneInfo(console.tz)

    async def monthly(month: str | None, dwelling: str | None) -> impact.MonthlyReport:
        now = console.clock()
        try:
            wanted = impact.default_month(now, tz) if month is None else impact.Month.parse(month)
            impact.check_begun(wanted, now, tz)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        registered = [d.id for d in console.ctx.registry.dwellings()]
        found = await run_in_threadpool(
            impact.load, console.alarms, wanted, tz, now, dwellings=registered, only=dwelling
        )
        if dwelling is not None and dwelling not in registered and found.total.empty:
            raise HTTPException(404, "unknown dwelling")
        return found

    @r.get("/monthly")
    async def monthly_json(
        op: Op, month: MonthQuery = None, dwelling: DwellingQuery = None
    ) -> MonthlyOut:
        """Alarms by kind and severity, time to first response and to being taken on
        (p50, p90), hand-overs to the alarm centre, outcomes and the false-alarm share,
        sensor downtime: per dwelling and in total (docs/alerts.md, "Monthly report")."""
        found = await monthly(month, dwelling)
        return MonthlyOut.model_validate(impact.as_dict(found, console.label))

    @r.get("/monthly.csv")
    async def monthly_csv(
        op: Op, month: MonthQuery = None, dwelling: DwellingQuery = None
    ) -> Response:
        """The same figures as CSV: one row per dwelling, then the total."""
        found = await monthly(month, dwelling)
        out = io.StringIO()
        report.write_csv(out, impact.csv_rows(found, console.label), impact.COLUMNS)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="mz-report-{found.month}.csv"'},
        )

    return r
