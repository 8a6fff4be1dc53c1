"""The local GSM fallback (edge.fallback) with an injected clock, a real spool and the
simulated modem behind a pty: what is texted, when, to whom, once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.config import FallbackSettings, load_settings
from edge.errors import ConfigError
from edge.fallback import SMS_AT, SMS_TO, LocalFallback
from edge.outbox import Outbox
from edge.spool import Spool
from sensors import contract
from simulators.devices.gsm_modem import SimulatedModem, SimulatedSounder
from tests.integration.alarm_fakes import FakeClock
from tests.servers import wait_until

ANNA, BOB = "+31612345678", "+447700900123"
TZ = ZoneInfo("Europe/Amsterdam")


def fallback_settings(port: str, **over: Any) -> FallbackSettings:
    return FallbackSettings.model_validate(
        {
            "modem": port,
            "after_s": 120,
            "retry_s": 60,
            "label": "Tuinstraat 3",
            "command_timeout_s": 1.0,
            "contacts": [
                {"id": "c-anna", "phone": ANNA},
                {"id": "c-bob", "phone": BOB, "language": "en"},
            ],
            **over,
        }
    )


@pytest.fixture
async def modem() -> AsyncIterator[SimulatedModem]:
    async with SimulatedModem() as sim:
        yield sim


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.sqlite", max_messages=1000, max_bytes=10_000_000)


def make(spool: Spool, modem: SimulatedModem, clock: FakeClock, **over: Any) -> LocalFallback:
    return LocalFallback(
        fallback_settings(modem.port, **over),
        dwelling="dw-001",
        tz=TZ,
        spool=spool,
        outbox=Outbox(spool),
        clock=clock,
    )


def restarted(
    fb: LocalFallback, spool: Spool, modem: SimulatedModem, clock: FakeClock, tmp_path: Path
) -> LocalFallback:
    """The fallback of an agent restarted on the same spool file (`spool` fixture's)."""
    fb.book.close()
    spool.close()
    again = Spool(tmp_path / "spool.sqlite", max_messages=1000, max_bytes=10_000_000)
    return make(again, modem, clock)


def alarm(
    clock: FakeClock, kind: contract.AlarmKind = contract.AlarmKind.PERSONAL, **over: Any
) -> contract.AlarmMessage:
    return contract.AlarmMessage(
        id=contract.new_id(),
        dwelling="dw-001",
        ts=clock.t,
        action="raise",
        alarm_id=over.pop("alarm_id", contract.new_id()),
        kind=kind,
        severity=contract.Severity.HIGH,
        sensor="pendant-1",
        **over,
    )


def reports(spool: Spool) -> list[contract.AlarmMessage]:
    out = []
    for item in spool.unconfirmed_alarms():
        _, msg = contract.decode(item.topic, item.payload)
        if isinstance(msg, contract.AlarmMessage) and SMS_AT in msg.detail:
            out.append(msg)
    return out


async def test_an_unconfirmed_alarm_is_texted_after_the_timeout_once(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock(1_764_000_000.0)  # 2025-11-24 17:00 in Amsterdam
    fb = make(spool, modem, clock)
    raised = alarm(clock)
    fb.outbox.put(raised)
    clock.advance(119.0)
    await fb.check()
    assert modem.sent == []
    clock.advance(1.0)
    await fb.check()
    assert [(s.number, s.text) for s in modem.sent] == [
        (
            ANNA,
            "Alarm Tuinstraat 3: de alarmknop is ingedrukt (17:00). De meldcentrale is niet"
            " bereikbaar. Ga direct kijken; bij nood bel 112.",
        ),
        (
            BOB,
            "Alarm Tuinstraat 3: the alarm button was pressed (17:00). Alarm service"
            " unreachable. Please check now; emergency: call 112.",
        ),
    ]
    # The hub will learn it: a report of the same alarm, its time, who was reached.
    [report] = reports(spool)
    assert report.alarm_id == raised.alarm_id and report.ts == raised.ts
    assert report.detail[SMS_TO] == "c-anna,c-bob" and report.detail["sms_failed"] == 0
    assert ANNA not in report.model_dump_json() and BOB not in report.model_dump_json()
    # The raise itself told the hub when the edge would text.
    [first] = [m for m in fb._unconfirmed() if SMS_AT not in m.detail]
    assert first.detail["fallback_s"] == 120.0
    clock.advance(3600.0)
    await fb.check()
    assert len(modem.sent) == 2 and len(reports(spool)) == 1
    assert fb.stats.alarms_texted == 1 and fb.stats.sms_sent == 2


async def test_a_cancel_or_a_receipt_before_the_timeout_sends_nothing(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    cancelled, confirmed = alarm(clock), alarm(clock)
    fb.outbox.put(cancelled)
    fb.outbox.put(confirmed)
    fb.outbox.put(cancelled.model_copy(update={"id": contract.new_id(), "action": "cancel"}))
    assert spool.receipt(confirmed.id)  # the hub has it
    clock.advance(121.0)
    await fb.check()
    assert modem.sent == [] and reports(spool) == []


async def test_technical_alarms_are_not_texted_by_default(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    fb.outbox.put(alarm(clock, contract.AlarmKind.TECHNICAL))
    clock.advance(500.0)
    await fb.check()
    assert modem.sent == []


async def test_a_test_alarm_is_never_texted(spool: Spool, modem: SimulatedModem) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    fb.outbox.put(alarm(clock, detail={"test": True, "command": contract.new_id()}))
    real = alarm(clock)
    fb.outbox.put(real)
    clock.advance(500.0)
    await fb.check()
    assert sorted(s.number for s in modem.sent) == sorted([ANNA, BOB])  # the real one only
    assert [r.alarm_id for r in reports(spool)] == [real.alarm_id]


async def test_no_network_is_tried_again_after_retry_s(
    spool: Spool, modem: SimulatedModem, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    modem.registered = False
    fb.outbox.put(alarm(clock, contract.AlarmKind.FALL))
    clock.advance(120.0)
    with caplog.at_level(logging.INFO):
        await fb.check()
    assert modem.sent == [] and fb.stats.sms_failed == 2
    [report] = reports(spool)  # the hub learns nobody was reached (it texts itself)
    assert report.detail[SMS_TO] == "" and report.detail["sms_failed"] == 2
    assert "no network service" in caplog.text
    assert ANNA not in caplog.text and "+316******78" in caplog.text  # never in full
    modem.registered = True
    clock.advance(59.0)
    await fb.check()
    assert modem.sent == []  # not before retry_s
    clock.advance(1.0)
    await fb.check()
    assert [s.number for s in modem.sent] == [ANNA, BOB]
    assert "mogelijk gevallen" in modem.sent[0].text
    assert reports(spool)[-1].detail[SMS_TO] == "c-anna,c-bob"


async def test_one_contact_failing_does_not_stop_the_other(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    fb.outbox.put(alarm(clock))
    clock.advance(120.0)
    real = modem._deliver

    def refuse_anna(number: str, text: str) -> None:
        if number == ANNA:
            modem._fail("CMS", 21, "rejected")
        else:
            real(number, text)

    modem._deliver = refuse_anna  # type: ignore[method-assign]
    await fb.check()
    assert [s.number for s in modem.sent] == [BOB]
    assert reports(spool)[-1].detail[SMS_TO] == "c-bob"
    modem._deliver = real  # type: ignore[method-assign]
    clock.advance(60.0)
    await fb.check()
    assert [s.number for s in modem.sent] == [BOB, ANNA]  # Bob is not texted twice


async def test_a_modem_that_does_not_answer_is_logged_and_retried(
    spool: Spool, modem: SimulatedModem, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock, command_timeout_s=0.1)
    modem.answering = False
    fb.outbox.put(alarm(clock))
    clock.advance(120.0)
    await fb.check()
    assert "not answering" in caplog.text and modem.sent == []
    modem.answering = True
    clock.advance(60.0)
    await fb.check()
    assert len(modem.sent) == 2


async def test_a_restarted_agent_does_not_text_again(
    spool: Spool, modem: SimulatedModem, tmp_path: Path
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    fb.outbox.put(alarm(clock))
    clock.advance(120.0)
    await fb.check()
    assert len(modem.sent) == 2
    fb2 = restarted(fb, spool, modem, clock, tmp_path)
    clock.advance(600.0)
    await fb2.check()
    assert len(modem.sent) == 2


async def test_a_texted_alarm_the_dwelling_withdraws_gets_an_all_clear_once(
    spool: Spool, modem: SimulatedModem, tmp_path: Path
) -> None:
    clock = FakeClock(1_764_000_000.0)  # 2025-11-24 17:00 in Amsterdam
    fb = make(spool, modem, clock)
    raised = alarm(clock, contract.AlarmKind.INACTIVITY)
    fb.outbox.put(raised)
    clock.advance(120.0)
    await fb.check()
    assert len(modem.sent) == 2
    clock.advance(300.0)  # the resident moves again: the detector's cancel, hub still away
    fb.outbox.put(raised.model_copy(update={"id": contract.new_id(), "action": "cancel"}))
    await fb.check()
    assert [(s.number, s.text) for s in modem.sent[2:]] == [
        (
            ANNA,
            "Voorbij: het alarm van 17:00 in Tuinstraat 3 (ongewoon lang geen beweging) is"
            " vanuit de woning afgemeld. Twijfelt u, neem dan contact op met de bewoner.",
        ),
        (
            BOB,
            "Over: the alarm of 17:00 in Tuinstraat 3 (no movement for unusually long) was"
            " called off in the dwelling. If in doubt, check with the resident.",
        ),
    ]
    assert all(len(s.text) <= 160 for s in modem.sent)
    # Once, also across a restart of the agent.
    clock.advance(600.0)
    await fb.check()
    fb2 = restarted(fb, spool, modem, clock, tmp_path)
    clock.advance(600.0)
    await fb2.check()
    assert len(modem.sent) == 4 and fb.stats.cleared == 2


async def test_a_new_alarm_is_texted_before_an_all_clear_due_at_the_same_check(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    first = alarm(clock, contract.AlarmKind.INACTIVITY)
    fb.outbox.put(first)
    clock.advance(120.0)
    await fb.check()
    fall = alarm(clock, contract.AlarmKind.FALL)
    fb.outbox.put(fall)
    fb.outbox.put(first.model_copy(update={"id": contract.new_id(), "action": "cancel"}))
    clock.advance(120.0)
    await fb.check()
    assert ["gevallen" in s.text or "fall" in s.text for s in modem.sent[2:4]] == [True, True]
    assert all(s.text.startswith(("Voorbij", "Over")) for s in modem.sent[4:6])
    assert len(modem.sent) == 6


async def test_no_all_clear_from_the_dwelling_when_the_hub_has_the_alarm(
    spool: Spool, modem: SimulatedModem
) -> None:
    """The hub confirmed the raise after the edge texted: its own all-clear reaches the
    texted contacts once it has the cancel; the dwelling texts none (nor for an alarm it
    never texted)."""
    clock = FakeClock()
    fb = make(spool, modem, clock)
    texted, never = alarm(clock), alarm(clock)
    fb.outbox.put(texted)
    clock.advance(120.0)
    await fb.check()
    assert len(modem.sent) == 2
    fb.outbox.put(never)
    assert spool.receipt(texted.id)
    for a in (texted, never):
        fb.outbox.put(a.model_copy(update={"id": contract.new_id(), "action": "cancel"}))
    clock.advance(600.0)
    await fb.check()
    assert len(modem.sent) == 2


async def test_an_all_clear_the_modem_refuses_is_tried_again_after_retry_s(
    spool: Spool, modem: SimulatedModem
) -> None:
    clock = FakeClock()
    fb = make(spool, modem, clock)
    raised = alarm(clock)
    fb.outbox.put(raised)
    clock.advance(120.0)
    await fb.check()
    fb.outbox.put(raised.model_copy(update={"id": contract.new_id(), "action": "cancel"}))
    modem.registered = False  # no network: every send fails
    await fb.check()
    assert len(modem.sent) == 2
    modem.registered = True
    clock.advance(30.0)
    await fb.check()
    assert len(modem.sent) == 2  # within retry_s (60 s)
    clock.advance(31.0)
    await fb.check()
    assert len(modem.sent) == 4


async def test_the_sounder_gets_its_on_and_off_lines(spool: Spool, modem: SimulatedModem) -> None:
    clock = FakeClock()
    async with SimulatedSounder() as sounder:
        fb = make(spool, modem, clock, sounder=sounder.port, sounder_s=0.05, sounder_on="SIREN 1")
        fb.outbox.put(alarm(clock))
        clock.advance(120.0)
        await fb.check()
        await wait_until(lambda: sounder.lines == ["SIREN 1", "OFF"], timeout=5)
        clock.advance(600.0)
        await fb.check()
    assert fb.stats.sounded == 1


def test_fallback_settings_are_checked(tmp_path: Path) -> None:
    base = tmp_path / "edge.toml"

    def load(fallback: str, extra: str = "") -> None:
        base.write_text(
            f'dwelling = "dw-001"\npassword = "pw-dw-001"\n{extra}\n[fallback]\n{fallback}'
        )
        load_settings(base)

    good = 'modem = "/dev/ttyUSB2"\n[[fallback.contacts]]\nid = "c-anna"\nphone = "+31612345678"\n'
    load(good)
    with pytest.raises(ConfigError, match="phone must be international") as info:
        load(good.replace("+31612345678", "0612345678"))
    assert "0612345678" not in str(info.value)  # personal data stays out of errors
    with pytest.raises(ConfigError, match="receipt_timeout_s > 0"):
        load(good, "receipt_timeout_s = 0")
    with pytest.raises(ConfigError, match="listed twice"):
        load(good + '[[fallback.contacts]]\nid = "c-bob"\nphone = "+31612345678"\n')
    with pytest.raises(ConfigError, match=r"fallback\.contacts"):
        load('modem = "/dev/ttyUSB2"\ncontacts = []\n')
    with pytest.raises(ConfigError, match=r"fallback\.label"):
        load('label = "<b>x</b>"\n' + good)


async def test_the_probe_finds_a_modem_that_could_not_text(
    spool: Spool, modem: SimulatedModem, caplog: pytest.LogCaptureFixture
) -> None:
    fb = make(spool, modem, FakeClock())
    assert fb.health().state == "starting"
    assert await fb.probe() == "ok"
    assert fb.health() == contract.SensorHealth(sensor="gsm-modem", kind="modem", state="ok")
    modem.rssi = 99
    assert await fb.probe() == "no signal"
    modem.registered = False
    assert await fb.probe() == "not registered on a network"
    assert fb.health().state == "failed"
    assert "could not text" in caplog.text
    modem.answering = False
    fb = make(spool, modem, FakeClock(), command_timeout_s=0.1)
    assert (await fb.probe()).startswith("unusable (not answering")
    assert modem.sent == []
