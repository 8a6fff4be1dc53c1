"""A line-oriented serial device over pyserial-asyncio-fast (also `socket://` URLs)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge.drivers import Emit
from edge.errors import DriverError
from sensors.readings import SerialLine

log = logging.getLogger(__name__)

MAX_LINE = 4096  # bytes; a longer "line" is noise on the wire, not a frame


class SerialLineDriver:
    def __init__(
        self,
        sensor: str,
        port: str,
        *,
        baudrate: int = 115200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sensor = sensor
        self.port = port
        self.baudrate = baudrate
        self._clock = clock
        self.opened = asyncio.Event()  # set while the port is open (tests, health)

    @property
    def name(self) -> str:
        return f"serial:{self.port}"

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self._sensor,)

    async def run(self, emit: Emit) -> None:
        import serial
        import serial_asyncio_fast

        try:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=self.port, baudrate=self.baudrate, limit=MAX_LINE
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DriverError(self.name, f"cannot open: {exc}") from exc
        self.opened.set()
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raise DriverError(self.name, "port closed (EOF)") from exc
                except asyncio.LimitOverrunError:
                    # Skip the overlong garbage up to the next newline, keep going.
                    await reader.read(MAX_LINE)
                    log.warning("%s: overlong line dropped", self.name)
                    continue
                except (serial.SerialException, OSError) as exc:
                    raise DriverError(self.name, f"read failed: {exc}") from exc
                line = raw.rstrip(b"\r\n")
                if line:
                    emit(SerialLine(self.port, line, self._clock()))
        finally:
            self.opened.clear()
            writer.close()
