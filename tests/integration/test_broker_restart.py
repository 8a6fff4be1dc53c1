"""A broker restart loses nothing: the shipped Mosquitto configuration, the real hub and two
real edge agents; the broker is down for 20 s and a pendant is pressed meanwhile.

Found by an outside probe: Mosquitto 2.0 does not restore shared subscriptions after a
restart, so what the edges flushed before the hub had resubscribed was dropped (the
pendant alarm among it), and the wills the broker fired at its shutdown raised false
"offline" alarms. Here every message the edges made is processed by the hub, the alarm
is raised exactly once, and no dwelling is taken for offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import pytest
from pydantic import SecretStr

from alerts.model import AlarmKind
from alerts.service import AlarmService
from hub.app import REGISTRY_DB, Hub, build_hub
from hub.config import BrokerSettings, ConsoleSection, DataSettings, HubSettings
from hub.context import Dwelling
from hub.registry import SqliteRegistry
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import record_outbox, running_dwelling, scenario, settings_for
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, wait_until

pytestmark = pytest.mark.integration

OUTAGE_S = 20.0
SECRET = "restart-test-secret-key-0123456789"


@asynccontextmanager
async def running_hub(mosquitto: Mosquitto, data_dir: Path) -> AsyncIterator[Hub]:
    reg = SqliteRegistry(data_dir / REGISTRY_DB)
    for dw in ("dw-001", "dw-002"):
        reg.add_dwelling(Dwelling(dw, f"Unit {dw}"))
    reg.close()
    # Production settings (shared_subscriptions off, 90 s offline grace) but for the
    # address, the data directory, no console, and a hub that reconnects LAST (a 10 s
    # backoff cap; production has 2 s): the edges flush their spools into a broker that
    # has not seen the hub back yet, the worst case.
    settings = HubSettings(
        broker=BrokerSettings(
            url=mosquitto.url,
            username=HUB_USER,
            password=SecretStr(HUB_PASSWORD),
            client_id="mz-hub-restart",
            reconnect_max_s=10.0,
        ),
        data=DataSettings(dir=data_dir),
        console=ConsoleSection(enabled=False, secret_key=SecretStr(SECRET)),
    )
    hub = build_hub(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(hub.run(stop, ready))
    await wait_until(lambda: ready.is_set() or task.done(), timeout=20)
    if task.done():
        task.result()
    try:
        yield hub
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await hub.close()


async def test_a_20_s_broker_restart_loses_nothing_and_raises_one_alarm(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=0.1)
    async with running_hub(mosquitto, tmp_path / "hub") as hub:
        service = cast(AlarmService, hub.alarms)
        # Edges reconnect within a second of the broker's return.
        dws = [
            SimulatedDwelling(
                settings_for(sc, mosquitto, tmp_path, dw, heartbeat_s=5.0, reconnect_max_s=1.0),
                sc,
            )
            for dw in ("dw-001", "dw-002")
        ]
        async with running_dwelling(dws[0]), running_dwelling(dws[1]):
            await wait_until(lambda: all(d.state.connected for d in dws), timeout=10)
            made = [record_outbox(d.agent) for d in dws if d.agent is not None]
            assert len(made) == 2

            def spooled() -> list[contract.Message]:
                return [m for per_dwelling in made for m in per_dwelling]

            await wait_until(lambda: hub.stats.get("accepted.readings") >= 10, timeout=10)

            mosquitto.stop()  # orderly: the broker saves its state and fires every will
            await wait_until(lambda: not any(d.state.connected for d in dws), timeout=10)
            dws[0].press("pendant-1")  # pressed while the broker is down: in the spool
            await asyncio.sleep(OUTAGE_S)  # the outage itself is what is tested here
            mosquitto.start()

            await wait_until(lambda: all(d.state.connected for d in dws), timeout=20)
            await wait_until(lambda: len(service.open_alarms()) >= 1, timeout=20)
            await wait_until(
                lambda: (
                    all(d.state.spool_depth == 0 for d in dws)
                    and all(hub.dedup.seen(m.id) for m in spooled())
                ),
                timeout=20,
            )
            # The wills fired at the broker's shutdown did not take anyone offline.
            for dw in ("dw-001", "dw-002"):
                state = hub.presence.state(dw)
                assert state is not None and state.online and state.offline_since is None
        # Everything the edges spooled (before, during and after the outage) was processed
        # once or more (de-duplication makes "more" harmless) ...
        assert any(isinstance(m, contract.AlarmMessage) for m in spooled())
        await wait_until(lambda: all(hub.dedup.seen(m.id) for m in spooled()), timeout=10)
        assert hub.stats.get("dropped") == 0
        assert not {k: v for k, v in hub.stats.counters().items() if k.startswith("rejected.")}
        # ... exactly one alarm, the pendant's, and no dwelling taken for offline.
        alarms = service.recent(100)
        assert [(a.kind, a.dwelling) for a in alarms] == [(AlarmKind.PERSONAL, "dw-001")]
