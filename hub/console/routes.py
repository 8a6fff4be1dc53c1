"""All the console's pages as one router (hub.api.app includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.console import Console
from hub.api.live import LiveHub
from hub.console import (
    ack,
    alarms,
    commands,
    dwellings,
    events,
    login,
    queue,
    reports,
    residents,
)
from hub.console.views import Views


def router(console: Console, live: LiveHub) -> APIRouter:
    views = Views(console)
    r = APIRouter(include_in_schema=False)
    for part in (
        login.router(views),
        queue.router(views),
        dwellings.router(views),
        alarms.router(views),
        events.router(views, live),
        ack.router(views),
        reports.router(views),
        residents.router(views),
        commands.router(views),
    ):
        r.include_router(part)
    return r
