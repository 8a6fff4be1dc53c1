"""The AT driver (edge.drivers.gsm) against the simulated modem over a real pty: the
driver's pyserial reads the bytes the simulator writes, prompt and all."""

from __future__ import annotations

import pytest

from edge.drivers.gsm import GsmModem, Registration, Signal, check_number, check_text
from edge.errors import ModemError
from simulators.devices.gsm_modem import SentSms, SimulatedModem

NUMBER = "+31612345678"


async def test_text_mode_sms_goes_out_with_prompt_and_ctrl_z() -> None:
    async with SimulatedModem() as sim, GsmModem(sim.port) as modem:
        ref = await modem.send_sms(NUMBER, "Alarm: ga kijken.")
        ref2 = await modem.send_sms(NUMBER, "Tweede bericht")
    assert sim.sent == [
        SentSms(NUMBER, "Alarm: ga kijken.", ref),
        SentSms(NUMBER, "Tweede bericht", ref2),
    ]
    assert ref2 == ref + 1
    # Set up as TS 27.005 text mode wants it, before the first AT+CMGS.
    setup = sim.commands[: sim.commands.index(f'AT+CMGS="{NUMBER}"')]
    assert {"ATE0", "AT+CMEE=1", "AT+CMGF=1"} <= set(setup)


async def test_a_socket_url_reaches_the_modem_too() -> None:
    async with SimulatedModem() as sim, sim.over_tcp() as url:
        assert url.startswith("socket://127.0.0.1:")
        async with GsmModem(url) as modem:
            assert (await modem.registration()).registered
            await modem.send_sms(NUMBER, "Alarm")
    assert [s.number for s in sim.sent] == [NUMBER]


async def test_signal_and_registration() -> None:
    async with SimulatedModem(rssi=17) as sim, GsmModem(sim.port) as modem:
        signal = await modem.signal()
        reg = await modem.registration()
        assert signal == Signal(17, None) and signal.dbm == -79 and signal.usable
        assert reg == Registration(1, 1) and reg.registered and not reg.roaming
        sim.rssi, sim.registered = 99, False
        signal = await modem.signal()
        reg = await modem.registration()
        assert signal.rssi is None and signal.dbm is None and not signal.usable
        assert reg == Registration(2, 2) and not reg.registered


async def test_a_modem_without_lte_still_reports_its_registration() -> None:
    async with SimulatedModem(lte=False) as sim, GsmModem(sim.port) as modem:
        assert await modem.registration() == Registration(1, None)


async def test_no_network_is_cms_error_331_and_retryable() -> None:
    async with SimulatedModem(registered=False) as sim, GsmModem(sim.port) as modem:
        with pytest.raises(ModemError) as info:
            await modem.send_sms(NUMBER, "Alarm")
    assert info.value.code == 331 and info.value.retryable
    assert "no network service" in str(info.value)
    assert NUMBER not in str(info.value)  # a phone number is personal data
    assert sim.sent == []


async def test_a_permanent_cms_error_is_not_retryable() -> None:
    async with SimulatedModem(cms_error=330) as sim, GsmModem(sim.port) as modem:
        with pytest.raises(ModemError) as info:
            await modem.send_sms(NUMBER, "Alarm")
        assert info.value.code == 330 and not info.value.retryable
        # The modem is still usable afterwards.
        sim.cms_error = None
        await modem.send_sms(NUMBER, "Alarm")
    assert len(sim.sent) == 1


async def test_a_modem_that_does_not_answer_times_out() -> None:
    async with SimulatedModem(answering=False) as sim:
        modem = GsmModem(sim.port, command_timeout_s=0.2, wake_tries=2)
        with pytest.raises(ModemError, match="not answering") as info:
            await modem.open()
        assert info.value.retryable
        assert sim.commands == ["AT", "AT"]  # woken twice, then given up


async def test_a_prompt_that_never_comes_times_out() -> None:
    async with SimulatedModem() as sim:
        modem = GsmModem(sim.port, command_timeout_s=0.3)
        await modem.open()
        try:
            sim.answering = False
            with pytest.raises(ModemError, match="timed out waiting for the '>' prompt"):
                await modem.send_sms(NUMBER, "Alarm")
        finally:
            await modem.close()


async def test_a_send_the_network_never_confirms_times_out() -> None:
    async with SimulatedModem(confirms=False) as sim:
        modem = GsmModem(sim.port, send_timeout_s=0.3)
        await modem.open()
        try:
            with pytest.raises(ModemError, match="timed out waiting for the answer to AT"):
                await modem.send_sms(NUMBER, "Alarm")
        finally:
            await modem.close()
    assert sim.sent == []


async def test_unsolicited_codes_between_answers_are_skipped() -> None:
    async with SimulatedModem() as sim, GsmModem(sim.port) as modem:
        sim.unsolicited("RING")
        sim.unsolicited('+CMTI: "SM",3')
        assert (await modem.signal()).rssi == 20
        await modem.send_sms(NUMBER, "Alarm")
    assert len(sim.sent) == 1


async def test_echo_before_ate0_is_not_taken_for_an_answer() -> None:
    async with SimulatedModem() as sim:
        modem = GsmModem(sim.port)
        await modem.open()  # the simulator echoes until ATE0, as a modem after power-on
        try:
            assert await modem.command("AT") == []
            sim.power_cycle()  # echo back on, PDU mode
            assert (await modem.signal()).rssi == 20
        finally:
            await modem.close()


async def test_a_missing_port_is_a_modem_error() -> None:
    with pytest.raises(ModemError, match="cannot open"):
        await GsmModem("/dev/does-not-exist").open()


def test_numbers_and_texts_are_checked() -> None:
    assert check_number(NUMBER) == NUMBER
    for bad in ("0612345678", "+31 6 1234", '+316"; AT', ""):
        with pytest.raises(ValueError, match="international"):
            check_number(bad)
    assert check_text("a" * 160)
    with pytest.raises(ValueError, match="at most 160"):
        check_text("a" * 161)
    for bad in ("x\x1ay", "@home", "café"):
        with pytest.raises(ValueError, match="plain punctuation"):
            check_text(bad)
