"""The serial line driver over a real pty (pyserial-asyncio-fast), and its supervision."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import tty

import pytest

from edge.drivers.serial import SerialLineDriver
from edge.errors import DriverError
from sensors.readings import Frame, SerialLine
from tests.servers import wait_until

pytestmark = pytest.mark.integration


async def test_lines_from_a_pty() -> None:
    controller, device = pty.openpty()
    tty.setraw(device)
    frames: list[Frame] = []
    driver = SerialLineDriver("wearable-1", os.ttyname(device), baudrate=115200, clock=lambda: 42.0)
    task = asyncio.create_task(driver.run(frames.append))
    try:
        await asyncio.wait_for(driver.opened.wait(), 5)  # opening flushes the input
        os.write(controller, b"HR=72\r\nSPO2=97\n\npartial")
        await wait_until(lambda: len(frames) == 2, timeout=5)
        os.write(controller, b"-line\n")
        await wait_until(lambda: len(frames) == 3, timeout=5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        os.close(controller)
        os.close(device)
    port = driver.port
    assert frames == [
        SerialLine(port, b"HR=72", 42.0),
        SerialLine(port, b"SPO2=97", 42.0),
        SerialLine(port, b"partial-line", 42.0),
    ]
    assert driver.sensors == ("wearable-1",)


async def test_socket_url_and_eof_is_a_driver_error() -> None:
    frames: list[Frame] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"one\ntwo\n")
        await writer.drain()
        writer.close()  # the device goes away

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        driver = SerialLineDriver("w", f"socket://127.0.0.1:{port}")
        with pytest.raises(DriverError, match="EOF") as info:
            await asyncio.wait_for(driver.run(frames.append), 5)
        assert info.value.retryable
    finally:
        server.close()
        await server.wait_closed()
    assert [f.line for f in frames if isinstance(f, SerialLine)] == [b"one", b"two"]


async def test_missing_port_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match="cannot open"):
        await SerialLineDriver("w", "/dev/does-not-exist").run(lambda f: None)
