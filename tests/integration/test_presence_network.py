"""A dwelling's network cut and restored, on real Mosquitto, with the real edge agent (its
transport behind the netem proxy) and the real hub (ingest, presence, alarm service):
exactly one offline alarm, cleared when the dwelling is back, and back within seconds.

Two ways the broker sees the dead connection, as in the field and in the demo:

* it drops it (keepalive 1 s: gone after 1.5 s of silence) and publishes its last will
  during the cut: the hub's offline grace starts, then the alarm;
* it holds it (keepalive 60 s, longer than the cut; the edge notices through its heartbeat's
  PUBACK timeout): the hub times the dwelling out, and on the network's return the broker
  gets what the network held for the old connection (its heartbeat, readings, perhaps its
  will), before the new connection is up. That is what raised the demo's second alarm.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import pytest
from pydantic import SecretStr

from alerts.model import AlarmKind, AlarmRecord
from alerts.service import AlarmService
from edge.config import EdgeSettings
from hub.config import (
    OPS_DB,
    BrokerSettings,
    ConsoleSection,
    DataSettings,
    HubSettings,
    PresenceSettings,
)
from hub.context import Dwelling
from hub.presence import OFFLINE_KEY
from hub.registry import SqliteRegistry
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import running_dwelling, scenario, settings_for
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, hub_running, wait_until

pytestmark = pytest.mark.integration

DWELLING = "dw-001"
HEARTBEAT_S = 1.0
HEARTBEAT_FACTOR = 3.0  # the hub: offline after 3 s without a message
OFFLINE_GRACE_S = 2.0  # the hub: offline 2 s after a last will (90 s in production)
CONNECT_TIMEOUT_S = 1.0
# The edge's production backoff: 0.5 s doubling to its cap, jittered.
RECONNECT_MIN_S = EdgeSettings.model_fields["reconnect_min_s"].default
RECONNECT_MAX_S = EdgeSettings.model_fields["reconnect_max_s"].default
# Failed attempts after which the backoff is at its cap (0.5, 1, 2, 4, then 5 s).
ATTEMPTS_AT_CAP = 6


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hub-data"
    registry = SqliteRegistry(d / OPS_DB)
    registry.add_dwelling(Dwelling(DWELLING, "Unit 1"))
    registry.close()
    return d


def hub_settings(mosquitto: Mosquitto, data_dir: Path) -> HubSettings:
    return HubSettings(
        broker=BrokerSettings(
            url=mosquitto.url,
            username=HUB_USER,
            password=SecretStr(HUB_PASSWORD),
            client_id="hub.presence",
            reconnect_max_s=0.5,
        ),
        data=DataSettings(dir=data_dir),
        console=ConsoleSection(enabled=False, port=0, secret_key=SecretStr("x" * 40)),
        presence=PresenceSettings(
            heartbeat_factor=HEARTBEAT_FACTOR,
            check_interval_s=0.05,
            offline_grace_s=OFFLINE_GRACE_S,
        ),
    )


def offline_alarms(service: AlarmService) -> list[AlarmRecord]:
    return [
        a
        for a in service.store.all_since(0.0)
        if a.dwelling == DWELLING
        and a.kind is AlarmKind.TECHNICAL
        and a.detail.get("key") == OFFLINE_KEY
    ]


@pytest.mark.parametrize("broker_keepalive", ["drops", "holds"])
async def test_a_cut_network_raises_one_offline_alarm_cleared_when_it_returns(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path, broker_keepalive: str
) -> None:
    sc = scenario(room_interval=0.2)
    edge = settings_for(
        sc,
        mosquitto,
        tmp_path,
        DWELLING,
        heartbeat_s=HEARTBEAT_S,
        keepalive_s=1 if broker_keepalive == "drops" else 60,
        ack_timeout_s=1.0,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        reconnect_min_s=RECONNECT_MIN_S,
        reconnect_max_s=RECONNECT_MAX_S,
    )
    async with hub_running(hub_settings(mosquitto, data_dir)) as hub:
        service = cast(AlarmService, hub.alarms)

        def presence_online() -> bool:
            s = hub.presence.state(DWELLING)
            return s is not None and s.online and s.online_session is not None

        def alarm_open() -> bool:
            return service.store.open_technical(DWELLING, OFFLINE_KEY) is not None

        dw = SimulatedDwelling(edge, sc)
        async with running_dwelling(dw):
            assert dw.agent is not None
            stats = dw.agent.publisher.stats
            await wait_until(presence_online, timeout=10)
            first = hub.presence.state(DWELLING)
            assert first is not None
            old_session = first.online_session

            dw.network_down("blackhole")
            await wait_until(alarm_open, timeout=20)
            # Long enough out that the edge's backoff has grown to its cap.
            await wait_until(lambda: stats.failures >= ATTEMPTS_AT_CAP, timeout=60)
            assert alarm_open() and len(offline_alarms(service)) == 1
            connects = stats.connects

            restored = time.monotonic()
            dw.network_up()
            await wait_until(lambda: not alarm_open(), timeout=3 * RECONNECT_MAX_S)
            back_after_s = time.monotonic() - restored
            # Within a connect attempt's timeout plus the backoff's cap (and some slack
            # for two busy cores), not the 30 s the old cap allowed.
            assert back_after_s < CONNECT_TIMEOUT_S + RECONNECT_MAX_S + 2.0, back_after_s
            assert stats.connects > connects
            # Cleared by the new connection, not by what the network held for the old one.
            back = hub.presence.state(DWELLING)
            assert back is not None and back.online
            assert back.online_session not in (None, old_session)

            # Stable: the new connection's heartbeats reach the hub for longer than its
            # timeout and its grace after a will (the old connection's, arriving late,
            # must not start one).
            back_at = time.time()  # the hub's clock
            settle_s = HEARTBEAT_S * HEARTBEAT_FACTOR + OFFLINE_GRACE_S + 1.0

            def settled() -> bool:
                s = hub.presence.state(DWELLING)
                return s is not None and (s.status_heard or 0.0) >= back_at + settle_s

            await wait_until(settled, timeout=4 * settle_s)
            state = hub.presence.state(DWELLING)
            assert state is not None and state.online and state.offline_since is None
            # Counted before the agent stops: its goodbye starts a grace of its own.
            alarms = offline_alarms(service)
            assert len(alarms) == 1, [(a.raised_at, a.detail, a.resolved_at) for a in alarms]
            [alarm] = alarms
            assert alarm.resolved_at is not None and alarm.resolved_at >= alarm.raised_at
