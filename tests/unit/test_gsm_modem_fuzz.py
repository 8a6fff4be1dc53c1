"""Hypothesis against the AT driver's answer handling: whatever bytes a modem (or line
noise) sends, only `ModemError` escapes, and what comes out is in range."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.drivers.gsm import GsmModem, Registration, Signal
from edge.errors import ModemError

LINES = st.sampled_from(
    [
        b"OK",
        b"ERROR",
        b"+CMS ERROR: 331",
        b"+CME ERROR: 10",
        b"+CMS ERROR: SIM busy",
        b"+CSQ: 99,99",
        b"+CSQ: 17,0",
        b"+CSQ: 45,3",
        b"+CREG: 0,5",
        b"+CEREG: 2,99",
        b"+CMGS: 12",
        b"> ",
        b"RING",
        b"AT+CSQ",
        b"",
    ]
)
ANSWERS = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(LINES, st.binary(max_size=20)), max_size=12).map(b"\r\n".join),
)


class _Writer:
    """The serial writer's part the driver uses; what it is given goes nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def _ask(answer: bytes, what: str) -> object:
    modem = GsmModem("fuzz", command_timeout_s=1.0, send_timeout_s=1.0)
    reader = asyncio.StreamReader()
    reader.feed_data(answer)
    reader.feed_eof()  # then the port closes: every wait ends
    modem._reader, modem._writer = reader, _Writer()  # type: ignore[assignment]
    try:
        if what == "signal":
            return await modem.signal()
        if what == "registration":
            return await modem.registration()
        if what == "sms":
            return await modem.send_sms("+31612345678", "Alarm")
        return await modem.command("AT")
    except ModemError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, st.sampled_from(["signal", "registration", "sms", "command"]))
def test_only_modem_errors_escape_and_values_are_in_range(answer: bytes, what: str) -> None:
    got = asyncio.run(_ask(answer, what))
    if isinstance(got, Signal):
        assert got.rssi is None or 0 <= got.rssi <= 31
        assert got.ber is None or 0 <= got.ber <= 7
    elif isinstance(got, Registration):
        assert all(s is None or 0 <= s <= 11 for s in (got.creg, got.cereg))
    elif isinstance(got, int):
        assert got >= 0
    else:
        assert got is None or isinstance(got, list)
