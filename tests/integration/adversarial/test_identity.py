"""Finding 1: one dwelling's credentials diverted every dwelling's messages.

The stolen Pi (dw-003, its genuine credentials) joins the hub's `$share` group, subscribes
to wildcards, takes the hub's client id and the honest edge's: the broker refuses all of
it, and the honest dwelling's alarms reach the hub exactly once each, with no offline
alarm and no mail but the alarms' own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from tests.edge_fixtures import running_dwelling
from tests.integration.adversarial.conftest import (
    CONTACTS,
    HUB_CLIENT_ID,
    HubProcess,
    assert_each_raised_once,
    honest,
    honest_alarms,
    hostile_client,
    probing,
    recording,
)
from tests.servers import Mosquitto, SmtpSink, wait_until

pytestmark = pytest.mark.integration

STOLEN_FILTERS = (
    "$share/mz-hub/mz/v1/+/alarms",
    "$share/mz-hub/mz/v1/+/readings",
    "$share/mz-hub/mz/v1/+/status",
    "#",
    "mz/v1/#",
    "mz/v1/+/alarms",
    "mz/v1/dw-001/cmd/+",
    "$SYS/#",
    "$CONTROL/dynamic-security/#",
)
NOT_AUTHORIZED = 0x80  # MQTT 3.1.1 SUBACK failure


async def test_a_stolen_pi_cannot_subscribe_its_way_into_other_dwellings_messages(
    broker: Mosquitto, hub: HubProcess, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with recording(broker) as rec, probing(hub), hostile_client(broker) as thief:
        granted = [await thief.subscribe(f, qos=1) for f in STOLEN_FILTERS]
        assert [list(g) for g in granted] == [[NOT_AUTHORIZED]] * len(STOLEN_FILTERS)
        dw = honest(broker, tmp_path, "dw-001")
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            for _ in range(5):
                dw.press("pendant-1")
            await wait_until(lambda: len(honest_alarms(rec, "dw-001")) == 5, timeout=20)
            ids = list(honest_alarms(rec, "dw-001"))
            await wait_until(lambda: all(hub.raised_count(a) == 1 for a in ids), timeout=20)
        assert_each_raised_once(hub, ids)
        # The thief got nothing at all.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(aiter(thief.messages))


async def test_a_stolen_pi_cannot_take_the_hubs_or_another_edges_session(
    broker: Mosquitto, hub: HubProcess, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with recording(broker) as rec, probing(hub):
        dw = honest(broker, tmp_path, "dw-001")
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            sessions_up = hub.logtext().count("MQTT session up")
            for identifier in (HUB_CLIENT_ID, f"{HUB_CLIENT_ID}-readings", "dw-001", "dw-002"):
                for _ in range(5):
                    with pytest.raises(aiomqtt.MqttError):
                        async with hostile_client(broker, identifier=identifier):
                            pass
            dw.press("pendant-1")
            await wait_until(lambda: len(honest_alarms(rec, "dw-001")) == 1, timeout=20)
            [alarm_id] = honest_alarms(rec, "dw-001")
            await wait_until(lambda: hub.raised_count(alarm_id) == 1, timeout=20)
            # Neither the hub nor the honest edge was kicked off.
            assert hub.logtext().count("MQTT session up") == sessions_up
            assert dw.state.connects == 1
            # No offline alarm, and the family got the alarm's mail and nothing else.
            await wait_until(lambda: len(smtp.messages) >= 1, timeout=20)
        assert [a.kind.value for a in hub.alarms()] == ["personal"]
        to = [str(m["To"]) for m in smtp.messages]
        assert to == [CONTACTS["dw-001"][2]]


def test_the_dwelling_tooling_cannot_replace_the_hubs_broker_password(
    broker: Mosquitto, hub: HubProcess
) -> None:
    """`add-dwelling.sh hub` used to reset the hub's password silently; `mz broker
    add-dwelling` refuses any hub account, and the hub keeps its session throughout."""
    from tests.integration.test_broker_accounts import mz_broker
    from tests.servers import HUB_USER

    sessions_up = hub.logtext().count("MQTT session up")
    # hub.* is no dwelling id; mz-admin is one in form, but not a dwelling's account.
    for name in (HUB_USER, "hub.2", "mz-admin"):
        out = mz_broker(broker, "add-dwelling", name, "--reset-password")
        assert out.returncode == 2 and "broker password" not in out.stdout, (name, out.stdout)
    account = broker.admin().account(HUB_USER)
    assert account is not None and account.kind == "hub"
    # The hub never lost its sessions (its password is what it was).
    assert hub.logtext().count("MQTT session up") == sessions_up
