"""A simulated GSM modem behind a real pty: the edge's AT driver opens the pty's device
path with pyserial and reads the bytes a modem sends.

    async with SimulatedModem() as modem:       # modem.port: "/dev/pts/N"
        ... the agent texts ...
        modem.sent    # [SentSms(number="+316...", text="...", ref=1)]

It answers as a modem does (echo until ATE0, `\\r\\n<line>\\r\\n` answers, the `> ` prompt
of AT+CMGS and Ctrl-Z to send, numeric +CMS/+CME errors after AT+CMEE=1) and can be told
to fail: `registered = False` (no network: CREG 2, a send ends in +CMS ERROR 331),
`rssi = 99` (no signal), `cms_error = 332` (every send fails with that code), `answering =
False` (it reads and says nothing), `confirms = False` (a send the network never
confirms), `lte = False` (no AT+CEREG). Also a `SimulatedSounder`:
a pty that records the lines the agent writes to a local sounder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import time
import tty
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

CTRL_Z: Final = 0x1A
ESC: Final = 0x1B


@dataclass(frozen=True, slots=True)
class SentSms:
    number: str
    text: str
    ref: int
    at: float = field(default=0.0, compare=False)  # wall clock when the modem took it


class _Pty:
    """A raw pty whose controller side this process reads with the event loop."""

    def __init__(self) -> None:
        self._controller, self._device = pty.openpty()
        tty.setraw(self._device)
        self.port = os.ttyname(self._device)
        self._open = False

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self._controller, self._readable)
        self._open = True

    def close(self) -> None:
        if self._open:
            asyncio.get_running_loop().remove_reader(self._controller)
            self._open = False
        for fd in (self._controller, self._device):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._controller = self._device = -1

    def _readable(self) -> None:
        try:
            data = os.read(self._controller, 4096)
        except OSError:  # the other side closed: nothing to read until it reopens
            return
        self.received(data)

    def write(self, data: bytes) -> None:
        if self._controller >= 0:
            os.write(self._controller, data)

    def received(self, data: bytes) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> _Pty:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class _State:
    echo: bool = True
    text_mode: bool = False  # AT+CMGF: 0 (PDU) after power-on
    numeric_errors: bool = False  # AT+CMEE=1
    sms_to: str | None = None  # collecting a text after the '>' prompt
    sms_text: bytearray = field(default_factory=bytearray)
    line: bytearray = field(default_factory=bytearray)


class SimulatedModem(_Pty):
    def __init__(
        self,
        *,
        registered: bool = True,
        rssi: int = 20,
        cms_error: int | None = None,
        answering: bool = True,
        confirms: bool = True,
        lte: bool = True,
    ) -> None:
        super().__init__()
        self.registered = registered
        self.rssi = rssi  # 0..31, 99: not known (no signal)
        self.cms_error = cms_error
        self.answering = answering
        self.confirms = confirms  # False: after Ctrl-Z the network never answers
        self.lte = lte
        self.sent: list[SentSms] = []
        self.commands: list[str] = []  # every command line, as received
        self._st = _State()
        self._ref = 0
        self._sink: Callable[[bytes], object] | None = None  # a TCP client, when one is on

    async def __aenter__(self) -> SimulatedModem:
        self.start()
        return self

    @contextlib.asynccontextmanager
    async def over_tcp(self) -> AsyncIterator[str]:
        """The same modem on a TCP port as well (one client at a time), for the driver's
        `socket://` URLs (a modem behind a serial-to-network bridge); yields the URL."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._sink = writer.write
            try:
                while data := await reader.read(4096):
                    self.received(data)
            finally:
                self._sink = None
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        try:
            yield f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            await server.wait_closed()

    def write(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink(data)
        else:
            super().write(data)

    def unsolicited(self, line: str) -> None:
        """An unsolicited result code (RING, +CMTI: "SM",3), as a modem sends it."""
        self.write(f"\r\n{line}\r\n".encode())

    def power_cycle(self) -> None:
        """As after a reset: echo on, PDU mode, verbose errors."""
        self._st = _State()

    # -- bytes in -----------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        st = self._st
        for byte in data:
            if st.sms_to is not None:
                self._sms_byte(byte)
                continue
            if st.echo and self.answering:
                self.write(bytes([byte]))
            if byte == 0x0D:  # CR ends a command line (TS 27.007's S3)
                line = st.line.decode("ascii", errors="replace").strip()
                st.line.clear()
                if line:
                    self.commands.append(line)
                    if self.answering:
                        self._command(line)
            elif byte != 0x0A:
                st.line.append(byte)

    def _sms_byte(self, byte: int) -> None:
        st = self._st
        if st.echo:
            self.write(bytes([byte]))
        if byte == ESC:
            st.sms_to = None
            st.sms_text.clear()
            self._ok()
        elif byte == CTRL_Z:
            number, text = st.sms_to or "", st.sms_text.decode("ascii", errors="replace")
            st.sms_to = None
            st.sms_text.clear()
            self._deliver(number, text.replace("\r", "\n"))
        else:
            st.sms_text.append(byte)

    def _deliver(self, number: str, text: str) -> None:
        if not self.confirms:
            return
        if not self.registered:
            self._fail("CMS", 331, "no network service")
        elif self.cms_error is not None:
            self._fail("CMS", self.cms_error, "error")
        else:
            self._ref = (self._ref + 1) % 256
            self.sent.append(SentSms(number, text, self._ref, time.time()))
            self._answer(f"+CMGS: {self._ref}")
            self._ok()

    # -- answers ------------------------------------------------------------------------

    def _answer(self, line: str) -> None:
        self.write(f"\r\n{line}\r\n".encode())

    def _ok(self) -> None:
        self._answer("OK")

    def _fail(self, kind: str, code: int, words: str) -> None:
        self._answer(f"+{kind} ERROR: {code if self._st.numeric_errors else words}")

    def _command(self, line: str) -> None:
        st, up = self._st, line.upper()
        if up == "AT":
            self._ok()
        elif up in ("ATE0", "ATE1"):
            st.echo = up == "ATE1"
            self._ok()
        elif m := re.fullmatch(r"AT\+CMEE=([012])", up):
            st.numeric_errors = m.group(1) == "1"
            self._ok()
        elif m := re.fullmatch(r"AT\+CMGF=([01])", up):
            st.text_mode = m.group(1) == "1"
            self._ok()
        elif up.startswith("AT+CSCS="):
            self._ok()
        elif up == "AT+CSQ":
            self._answer(f"+CSQ: {self.rssi},99")
            self._ok()
        elif up == "AT+CREG?":
            self._answer(f"+CREG: 0,{1 if self.registered else 2}")
            self._ok()
        elif up == "AT+CEREG?" and self.lte:
            self._answer(f"+CEREG: 0,{1 if self.registered else 2}")
            self._ok()
        elif m := re.fullmatch(r'AT\+CMGS="(\+?[0-9]{3,20})"', up):
            if not st.text_mode:  # PDU mode wants a length, not a quoted number
                self._answer("ERROR")
                return
            st.sms_to = m.group(1)
            self.write(b"\r\n> ")
        else:
            self._answer("ERROR")


class SimulatedSounder(_Pty):
    """A local sounder on a serial line: records each line the agent writes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._partial = bytearray()

    async def __aenter__(self) -> SimulatedSounder:
        self.start()
        return self

    def received(self, data: bytes) -> None:
        self._partial += data
        while (end := self._partial.find(b"\n")) >= 0:
            line = self._partial[:end].decode("ascii", errors="replace").strip()
            del self._partial[: end + 1]
            if line:
                self.lines.append(line)
