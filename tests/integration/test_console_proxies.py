"""X-Forwarded-For is believed only from `console.trusted_proxies`: over real HTTP, with the
uvicorn server the hub itself builds (`Hub._console_server`).

The probe's finding: uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, so
anything on the hub's machine (or a proxy that passes the header on) could rotate the
address the login throttle counts against, and never be locked out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from hub.app import build_hub
from hub.config import HubSettings
from hub.context import Operator
from tests.integration.console_client import csrf_of
from tests.integration.console_fakes import OPERATOR
from tests.servers import wait_until

pytestmark = pytest.mark.integration


@asynccontextmanager
async def console_of_a_hub(tmp_path: Path, **console: object) -> AsyncIterator[str]:
    settings = HubSettings(
        broker={"password": "broker-secret-for-this-test"},
        data={"dir": tmp_path},
        console={"port": 0, "secret_key": "console-secret-for-this-test", **console},
    )
    hub = build_hub(settings)
    hub.registry.add_operator(Operator(*OPERATOR[:1], "operator"), OPERATOR[1])
    server, sock = hub._console_server()
    port = int(sock.getsockname()[1])
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started, timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        await hub.close()


async def login(client: httpx.AsyncClient, user: str, password: str, forwarded: str) -> int:
    page = await client.get("/login")
    r = await client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_of(page.text)},
        headers={"X-Forwarded-For": forwarded},
    )
    return r.status_code


async def test_by_default_x_forwarded_for_from_127_0_0_1_is_not_believed(
    tmp_path: Path,
) -> None:
    async with console_of_a_hub(tmp_path) as url, httpx.AsyncClient(base_url=url) as client:
        # Five failures, each claiming another address: all counted against 127.0.0.1.
        for i in range(5):
            assert await login(client, "nobody", "raden", f"198.51.100.{i}") == 401
        assert await login(client, *OPERATOR, "198.51.100.99") == 429


async def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    async with (
        console_of_a_hub(tmp_path, trusted_proxies=["127.0.0.1"]) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for _ in range(5):
            assert await login(client, "nobody", "raden", "198.51.100.1") == 401
        assert await login(client, *OPERATOR, "198.51.100.1") == 429  # that client is locked
        assert await login(client, *OPERATOR, "198.51.100.2") == 303  # another is not


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    from hub.config import load_settings
    from hub.errors import ConfigError

    assert load_settings(console={"trusted_proxies": ["10.0.0.0/8", "::1"]}).console.trusted_proxies
    for bad in (["*"], ["proxy.example"], ["10.0.0.300"]):
        with pytest.raises(ConfigError, match="trusted_proxies"):
            load_settings(console={"trusted_proxies": bad})
