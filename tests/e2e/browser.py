"""What the browser tests share: Debian's headless Chromium (driven by Playwright), the
hub's app under uvicorn on a free loopback port, and signing in through a login form; the
console with its fakes as a fixture (`console`), and an alarm from the edge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from alerts.model import AlarmKind, Severity
from alerts.service import AlarmService
from hub.api.app import create_app
from hub.context import Registry
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors.contract import AlarmMessage, new_id
from tests.integration.console_fakes import build
from tests.servers import free_port, wait_until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} not found: install the Debian package 'chromium'"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # leave pytest's signal handlers alone


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """`app` under uvicorn on a free loopback port, while the block runs: its base URL."""
    port = free_port()
    server = _Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=3,
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def sign_in(
    page: Page,
    url: str,
    user: str,
    password: str,
    *,
    name_field: str = "username",
    lands: str | None = None,
) -> None:
    """Open `url` signed out: the login form comes instead; sign in through it, and wait
    for the page it leads to (`url` again, unless `lands` says otherwise)."""
    await page.goto(url)
    assert urlsplit(page.url).path.endswith("/login"), page.url
    await page.fill(f'input[name="{name_field}"]', user)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(lands or url)


class WallClock:
    def __call__(self) -> float:
        return time.time()


@dataclass
class Running:
    url: str
    alarms: AlarmService
    store: SqliteTimeSeriesStore
    registry: Registry


@contextlib.asynccontextmanager
async def running_console(tmp_path: Path) -> AsyncIterator[Running]:
    """The console with the fakes of tests.integration.console_fakes, on the wall clock,
    under uvicorn while the block runs."""
    require_chromium()
    clock = WallClock()
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.sqlite")
    ctx, alarms = build(tmp_path, clock, timeseries=store)  # type: ignore[arg-type]
    try:
        # board_refresh_s: the pages' live parts (and the family page's poll) every 1 s.
        async with serve(create_app(ctx, clock=clock, board_refresh_s=1.0)) as url:
            yield Running(url, alarms, store, ctx.registry)
    finally:
        alarms.close()
        await store.close()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_console(tmp_path) as running:
        yield running


async def edge_alarm(
    alarms: AlarmService,
    dwelling: str,
    kind: AlarmKind,
    severity: Severity,
    *,
    waited_s: float = 0.0,
) -> str:
    """An alarm raised by the dwelling's edge `waited_s` ago; its id."""
    now = time.time() - waited_s
    msg = AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=now - 0.4,
        action="raise",
        alarm_id=new_id(),
        kind=kind,
        severity=severity,
        sensor="pendant-1" if kind is AlarmKind.PERSONAL else None,
        detail={"press": "double_press"} if kind is AlarmKind.PERSONAL else {},
    )
    await alarms.on_edge_alarm(msg, received_at=now)
    return msg.alarm_id
