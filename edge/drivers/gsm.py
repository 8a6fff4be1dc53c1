"""A GSM modem over pyserial-asyncio-fast (a device path or a `socket://` URL), driven with
the standard AT commands of 3GPP TS 27.005 (SMS) and TS 27.007 (network, signal).

    async with GsmModem("/dev/ttyUSB2") as modem:
        await modem.registration()          # AT+CREG? / AT+CEREG?
        await modem.signal()                # AT+CSQ
        await modem.send_sms("+31612345678", "...")   # AT+CMGF=1, AT+CMGS, '>', text, Ctrl-Z

I/O only: every modem answer becomes one of our values or a `ModemError` (with the
+CMS/+CME error number, and whether trying again later can help). Phone numbers never
appear in an error or a log line (they are personal data).

The dialogue (TS 27.005 3.5.1, text mode): `AT+CMGS="<da>"<CR>`, the modem answers
`<CR><LF>> ` (a prompt, no line end), the text follows, ended by Ctrl-Z (0x1A; ESC 0x1B
aborts), and the modem answers `+CMGS: <mr>` then `OK`, or `+CMS ERROR: <n>`. Unsolicited
result codes (`RING`, `+CMTI: ...`, `+CREG: 1`) may come between; they are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final

from edge.errors import ModemError

if TYPE_CHECKING:
    from asyncio import StreamReader, StreamWriter

log = logging.getLogger(__name__)

CTRL_Z: Final = b"\x1a"
ESC: Final = b"\x1b"
MAX_SMS_CHARS: Final = 160  # one GSM-7 text-mode message
_MAX_BUFFER: Final = 4096  # bytes without a line end: noise, not an answer
_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FINAL_ERROR: Final = re.compile(r"^\+(CMS|CME) ERROR:\s*(.+)$")
# Characters the modem's "GSM" character set (AT+CSCS="GSM") carries as themselves from an
# ASCII terminal; '@', '$', '_', '`', braces, brackets, '\\', '^', '|', '~' do not (they
# are other or escaped GSM 03.38 codes), so the texts avoid them.
_SAFE_TEXT: Final = re.compile(r"^[A-Za-z0-9 .,:;!?'\"()+\-/%&=<>#*\n]*$")

# +CMS / +CME error numbers after which trying again cannot help: a human must act
# (SIM missing or locked, no SMS centre configured, a number the network refuses).
_PERMANENT_CMS: Final = frozenset({1, 8, 10, 21, 29, 310, 311, 312, 313, 316, 317, 318, 330})
_PERMANENT_CME: Final = frozenset({10, 11, 12, 13, 16, 17, 18})
_CMS_TEXT: Final = {
    1: "unassigned number",
    21: "message rejected by the network",
    38: "network out of order",
    42: "network congestion",
    300: "modem failure",
    302: "operation not allowed",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    322: "memory full",
    330: "SMS centre address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}
_CME_TEXT: Final = {
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    30: "no network service",
    31: "network timeout",
    100: "unknown error",
}


@dataclass(frozen=True, slots=True)
class Signal:
    """AT+CSQ: `rssi` 0..31 (None: 99, not known or not detectable), `dbm` from it
    (-113 + 2 * rssi), `ber` 0..7 (None: 99)."""

    rssi: int | None
    ber: int | None

    @property
    def dbm(self) -> int | None:
        return None if self.rssi is None else -113 + 2 * self.rssi

    @property
    def usable(self) -> bool:
        return self.rssi is not None and self.rssi > 0


@dataclass(frozen=True, slots=True)
class Registration:
    """AT+CREG? (GSM/UMTS) and AT+CEREG? (LTE): the `<stat>` of each (None: the modem
    does not know the command). 1 home, 5 roaming: registered; 0 not searching, 2
    searching, 3 denied, 4 unknown."""

    creg: int | None
    cereg: int | None = None

    @property
    def registered(self) -> bool:
        return self.creg in (1, 5) or self.cereg in (1, 5)

    @property
    def roaming(self) -> bool:
        return self.registered and 1 not in (self.creg, self.cereg)


def _error(port: str, line: str) -> ModemError:
    """A final error answer as a ModemError."""
    m = _FINAL_ERROR.match(line)
    if m is None:
        return ModemError(port, "command refused (ERROR)")
    kind, raw = m.group(1), m.group(2).strip()
    try:
        code = int(raw)
    except ValueError:  # AT+CMEE=2 gives words instead of a number
        return ModemError(port, f"+{kind} ERROR: {raw}")
    table, permanent = (_CMS_TEXT, _PERMANENT_CMS) if kind == "CMS" else (_CME_TEXT, _PERMANENT_CME)
    what = table.get(code, "error")
    return ModemError(
        port, f"+{kind} ERROR {code} ({what})", code=code, retryable=code not in permanent
    )


def check_number(number: str) -> str:
    """An international number, +<country><number> (E.164); ValueError if not."""
    if not _E164.fullmatch(number):
        raise ValueError("a phone number must be international: +<country code><number>")
    return number


def check_text(text: str) -> str:
    """A text one text-mode SMS carries unchanged; ValueError if not."""
    if len(text) > MAX_SMS_CHARS:
        raise ValueError(f"an SMS is at most {MAX_SMS_CHARS} characters, not {len(text)}")
    if not _SAFE_TEXT.fullmatch(text):
        raise ValueError("an SMS text may hold letters, digits and plain punctuation only")
    return text


class GsmModem:
    """One open connection to a modem; `open` (or `async with`) sets it up for text-mode
    SMS. Commands run one at a time (a lock), each with a deadline."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        command_timeout_s: float = 5.0,
        send_timeout_s: float = 60.0,
        wake_tries: int = 3,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.command_timeout_s = command_timeout_s
        # The network may take tens of seconds to accept a message (TS 27.005 allows it).
        self.send_timeout_s = send_timeout_s
        self.wake_tries = wake_tries
        self._reader: StreamReader | None = None
        self._writer: StreamWriter | None = None
        self._buf = bytearray()
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> GsmModem:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the port, wake the modem (`AT`), and set it up: no echo, numeric errors,
        text mode, the GSM character set."""
        import serial
        import serial_asyncio_fast

        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.port, baudrate=self.baudrate
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ModemError(self.port, f"cannot open: {exc}") from exc
        try:
            await self._wake()
            for cmd in ("ATE0", "AT+CMEE=1", "AT+CMGF=1", 'AT+CSCS="GSM"'):
                await self.command(cmd)
        except BaseException:
            await self.close()
            raise

    async def _wake(self) -> None:
        """`AT` until the modem answers OK (a modem asleep or still booting misses the
        first); ModemError if it never does."""
        last: ModemError | None = None
        for _ in range(self.wake_tries):
            try:
                await self.command("AT", timeout_s=min(1.0, self.command_timeout_s))
                return
            except ModemError as exc:
                if exc.code is not None or "timed out" not in exc.detail:
                    raise
                last = exc
        raise ModemError(self.port, "not answering (no reply to AT)") from last

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    # -- queries ------------------------------------------------------------------------

    async def signal(self) -> Signal:
        """Signal quality (AT+CSQ)."""
        for line in await self.command("AT+CSQ"):
            m = re.match(r"^\+CSQ:\s*(\d+)\s*,\s*(\d+)", line)
            if m:
                rssi, ber = int(m.group(1)), int(m.group(2))
                # TS 27.007 8.5: rssi 0..31, ber 0..7, 99 not known; anything else is noise.
                if not (rssi <= 31 or rssi == 99) or not (ber <= 7 or ber == 99):
                    raise ModemError(self.port, f"AT+CSQ out of range: {rssi},{ber}")
                return Signal(None if rssi == 99 else rssi, None if ber == 99 else ber)
        raise ModemError(self.port, "AT+CSQ gave no +CSQ line")

    async def registration(self) -> Registration:
        """Network registration (AT+CREG?, and AT+CEREG? where the modem has LTE)."""
        creg = await self._stat("CREG")
        try:
            cereg = await self._stat("CEREG")
        except ModemError as exc:
            # A 2G/3G modem does not know AT+CEREG: plain ERROR, or +CME ERROR 3/4
            # (operation not allowed / not supported).
            if exc.code not in (None, 3, 4) or "ERROR" not in exc.detail:
                raise
            cereg = None
        return Registration(creg, cereg)

    async def _stat(self, name: str) -> int | None:
        for line in await self.command(f"AT+{name}?"):
            m = re.match(rf"^\+{name}:\s*\d+\s*,\s*(\d+)", line)
            if m:
                stat = int(m.group(1))
                if stat > 11:  # TS 27.007 7.2 / 10.1.22 define 0..11
                    raise ModemError(self.port, f"AT+{name}? out of range: {stat}")
                return stat
        return None

    # -- SMS ----------------------------------------------------------------------------

    async def send_sms(self, number: str, text: str) -> int:
        """Send one text-mode SMS; the message reference the network gave it."""
        check_number(number)
        check_text(text)
        async with self._lock:
            self._buf.clear()  # what came before (unsolicited codes) is not our answer
            self._write(f'AT+CMGS="{number}"\r'.encode("ascii"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.command_timeout_s
            await self._prompt(deadline)
            self._write(text.replace("\n", "\r").encode("ascii") + CTRL_Z)
            lines = await self._final(f'AT+CMGS="{number}"', loop.time() + self.send_timeout_s)
        for line in lines:
            m = re.match(r"^\+CMGS:\s*(\d+)", line)
            if m:
                return int(m.group(1))
        raise ModemError(self.port, "AT+CMGS gave no +CMGS line")

    async def _prompt(self, deadline: float) -> None:
        """Wait for the '> ' prompt; a final error before it is raised (+CMS ERROR)."""
        while True:
            stripped = self._buf.lstrip(b"\r\n")
            if stripped.startswith(b">"):
                del self._buf[:]
                return
            line = self._take_line()
            if line is None:
                await self._read_more(deadline, "the '>' prompt")
                continue
            if line.startswith("AT+CMGS"):  # echo, if the modem still echoes
                continue
            if line == "ERROR" or _FINAL_ERROR.match(line):
                raise _error(self.port, line)

    # -- the line protocol --------------------------------------------------------------

    async def command(self, cmd: str, *, timeout_s: float | None = None) -> list[str]:
        """Send one AT command; the information lines of its answer (final OK not
        included). ModemError on ERROR, +CMS/+CME ERROR, or no answer in time."""
        async with self._lock:
            self._buf.clear()
            self._write(cmd.encode("ascii") + b"\r")
            wait = self.command_timeout_s if timeout_s is None else timeout_s
            return await self._final(cmd, asyncio.get_running_loop().time() + wait)

    def _write(self, data: bytes) -> None:
        if self._writer is None:
            raise ModemError(self.port, "not open")
        self._writer.write(data)

    async def _final(self, cmd: str, deadline: float) -> list[str]:
        lines: list[str] = []
        while True:
            line = self._take_line()
            if line is None:
                await self._read_more(deadline, f"the answer to {cmd.split('=')[0]}")
                continue
            if not line or line == cmd:  # blank, or the echo before ATE0 took effect
                continue
            if line == "OK":
                return lines
            if line == "ERROR" or _FINAL_ERROR.match(line):
                raise _error(self.port, line)
            lines.append(line)

    def _take_line(self) -> str | None:
        """The next complete line in the buffer (CR, LF or CRLF ended), or None."""
        m = re.search(rb"\r\n|\n|\r", self._buf)
        if m is None:
            return None
        raw = bytes(self._buf[: m.start()])
        del self._buf[: m.end()]
        return raw.decode("ascii", errors="replace").strip()

    async def _read_more(self, deadline: float, what: str) -> None:
        import serial

        reader = self._reader
        if reader is None:
            raise ModemError(self.port, "not open")
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise ModemError(self.port, f"timed out waiting for {what}")
        try:
            chunk = await asyncio.wait_for(reader.read(256), remaining)
        except TimeoutError as exc:
            raise ModemError(self.port, f"timed out waiting for {what}") from exc
        except (serial.SerialException, OSError) as exc:
            raise ModemError(self.port, f"read failed: {exc}") from exc
        if not chunk:
            raise ModemError(self.port, "port closed (EOF)")
        self._buf += chunk
        if len(self._buf) > _MAX_BUFFER:
            self._buf.clear()
            log.warning("modem %s: %d bytes without a line end dropped", self.port, _MAX_BUFFER)
