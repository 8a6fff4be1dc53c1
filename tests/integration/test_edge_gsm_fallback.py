"""The GSM fallback end to end: real Mosquitto, the real edge agent with a simulated pendant,
its real AT driver talking to a simulated modem over a pty, and the real hub.

The hub is away: a pendant press is texted by the dwelling itself after `after_s`, to the
number in its local copy, in Dutch. The hub comes back: it gets the alarm once, knows the
dwelling texted the mantelzorger (who gets no second message from the hub), and the
edge, its alarm confirmed, texts nobody again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import AlarmState
from alerts.service import AlarmService
from sensors.contract import AlarmKind
from simulators.devices.gsm_modem import SimulatedModem
from simulators.dwelling import SimulatedDwelling
from tests.e2e.test_pendant_to_mail import hub_settings, running_hub, seed
from tests.edge_fixtures import running_dwelling, scenario, settings_for
from tests.servers import Mosquitto, SmtpSink, free_port, wait_until

pytestmark = pytest.mark.integration

PHONE = "+31612345678"


async def test_hub_away_the_dwelling_texts_and_the_hub_reconciles(
    mosquitto: Mosquitto, smtp: SmtpSink, tmp_path: Path
) -> None:
    data_dir = tmp_path / "hub"
    seed(data_dir, smtp)  # contact c-1, Anna, by mail
    hub_config = hub_settings(mosquitto, smtp, data_dir, free_port())
    async with running_hub(hub_config):
        pass  # the hub has been here: its persistent session waits at the broker

    sc = scenario(room_interval=0.2)
    async with SimulatedModem() as modem:
        settings = settings_for(
            sc,
            mosquitto,
            tmp_path,
            receipt_timeout_s=0.5,
            receipt_max_interval_s=1.0,
            fallback={
                "modem": modem.port,
                "after_s": 1.0,
                "check_s": 0.05,
                "label": "Tuinstraat 3",
                "contacts": [{"id": "c-1", "phone": PHONE}],
            },
        )
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            agent = dw.agent
            assert agent is not None

            # The modem, probed at start, is in the status as one more device.
            def modem_ok() -> bool:
                sensors = agent.make_status(True).sensors
                return any(s.sensor == "gsm-modem" and s.state == "ok" for s in sensors)

            await wait_until(modem_ok, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: dw.state.awaiting_receipt == 1, timeout=10)
            await wait_until(lambda: modem.sent, timeout=10)
            [sms] = modem.sent
            assert sms.number == PHONE
            assert sms.text.startswith("Alarm Tuinstraat 3: de alarmknop is ingedrukt (")
            assert "De meldcentrale is niet bereikbaar." in sms.text
            await wait_until(lambda: dw.state.awaiting_receipt == 2, timeout=10)  # + its report

            async with running_hub(hub_config) as hub:
                await wait_until(lambda: dw.state.awaiting_receipt == 0, timeout=20)
                svc = hub.alarms
                assert isinstance(svc, AlarmService)
                [alarm] = svc.recent()
                assert alarm.kind is AlarmKind.PERSONAL and alarm.sensor == "pendant-1"
                assert sms.at >= alarm.raised_at + 1.0  # not before after_s
                await wait_until(
                    lambda: any(e.what == "texted_by_dwelling" for e in svc.timeline(alarm.id)),
                    timeout=10,
                )
                got = svc.get(alarm.id)
                assert got is not None and got.state is AlarmState.NOTIFIED
                assert got.notifications_sent == 1
                # The hub's own round ran after the report (the alarm is routed): no mail.
                await wait_until(lambda: not svc.store.routing_open(), timeout=10)
                assert smtp.messages == []
            assert dw.agent is not None and dw.agent.fallback is not None
            assert dw.agent.fallback.stats.alarms_texted == 1
        assert len(modem.sent) == 1  # confirmed: never texted again
