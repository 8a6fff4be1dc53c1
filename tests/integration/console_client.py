"""The console's app (tests.integration.console_fakes' `build`) over httpx's ASGI
transport, and signing in through its login form, for the integration tests."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from alerts.service import AlarmService
from hub.api.app import create_app
from hub.context import HubContext
from hub.registry import Registry
from hub.storage.sqlite import SqliteTimeSeriesStore
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_fakes import OPERATOR, build

BASE = "http://testserver"


@dataclass
class Console:
    app: FastAPI
    client: httpx.AsyncClient
    ctx: HubContext
    registry: Registry
    alarms: AlarmService
    store: SqliteTimeSeriesStore | None  # with `store=True` only


@contextlib.asynccontextmanager
async def open_console(
    tmp_path: Path,
    clock: FakeClock,
    *,
    store: bool = False,
    demo: bool = False,
    hint: str = "",
    **app_options: Any,
) -> AsyncIterator[Console]:
    """`build` in `tmp_path` (with a SQLite time-series store when `store`; `demo`, `hint`
    as there), its app (create_app with `app_options`) and a client on it, while the block
    runs; the alarm service and the store are closed afterwards."""
    timeseries = SqliteTimeSeriesStore(tmp_path / "timeseries.sqlite") if store else None
    ctx, alarms = build(tmp_path, clock, demo=demo, hint=hint, timeseries=timeseries)
    registry = ctx.registry
    assert isinstance(registry, Registry)
    app = create_app(ctx, clock=clock, **app_options)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            yield Console(app, client, ctx, registry, alarms, timeseries)
    finally:
        alarms.close()
        if timeseries is not None:
            await timeseries.close()


def csrf_of(html: str) -> str:
    """A page's CSRF token: its form's field, or (signed in) the page's meta tag."""
    found = re.search(r'name="csrf"[^>]*value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found, html
    return found.group(1)


async def login(
    client: httpx.AsyncClient, user: str = OPERATOR[0], password: str = OPERATOR[1]
) -> httpx.Response:
    """Post the login form (with its CSRF token); the answer."""
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_of(page.text), "next": "/"},
    )


async def signed_in(client: httpx.AsyncClient, user: tuple[str, str] = OPERATOR) -> str:
    """Log in through the form; the session's CSRF token."""
    r = await login(client, *user)
    assert r.status_code == 303, r.text
    return csrf_of((await client.get("/")).text)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
