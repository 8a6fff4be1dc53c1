"""The netem proxy itself, against a TCP echo server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from simulators.netem import TcpProxy

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def echo_behind_proxy() -> AsyncIterator[TcpProxy]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with TcpProxy("127.0.0.1", port) as proxy:
            yield proxy
    finally:
        server.close()
        await server.wait_closed()


async def test_blackhole_holds_traffic_until_restored() -> None:
    async with echo_behind_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"before\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"before\n"

        proxy.cut("blackhole")
        writer.write(b"during\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.3)  # nothing gets through

        proxy.restore()  # the held bytes arrive, as TCP retransmission would deliver them
        assert await asyncio.wait_for(reader.readline(), 5) == b"during\n"
        writer.close()


async def test_reset_closes_and_refuses_until_restored() -> None:
    async with echo_behind_proxy() as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"x\n"

        proxy.cut("reset")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 5)  # reset under us
        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(r2.read(), 5)  # reset right after accept
        w2.close()

        proxy.restore()
        r3, w3 = await asyncio.open_connection("127.0.0.1", proxy.port)
        w3.write(b"back\n")
        assert await asyncio.wait_for(r3.readline(), 5) == b"back\n"
        w3.close()
        writer.close()
    assert proxy.stats.refused == 1 and proxy.stats.cuts == 1
