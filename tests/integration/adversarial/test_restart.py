"""Finding 2: a broker restart lost what was buffered, and its wills raised false alarms.

The shipped Mosquitto is down for 20 s while two honest dwellings run the real edge
agent; a pendant is pressed meanwhile; `mz hub run` comes back *after* the edges (a 10 s
reconnect cap here, 2 s in production: the worst case). Mosquitto 2.0 does not restore
shared subscriptions after a restart, so with `$share` what the edges flushed before the
hub had resubscribed was dropped; the wills the broker fired at its orderly shutdown took
every dwelling "offline" and mailed the families. Here: every message the edges spooled is
processed, the pendant's alarm is raised once and mailed once, nobody goes offline, and
no other mail goes out. (With `shared_subscriptions = true` this test fails.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts.model import AlarmKind
from sensors import contract
from tests.edge_fixtures import record_outbox, running_dwelling
from tests.integration.adversarial.conftest import (
    CONTACTS,
    HONEST,
    HubProcess,
    honest,
    probing,
    seed,
    write_config,
)
from tests.servers import Mosquitto, SmtpSink, free_port, wait_until

pytestmark = pytest.mark.integration

OUTAGE_S = 20.0


async def test_a_20_s_broker_restart_loses_nothing_and_raises_one_alarm(
    broker: Mosquitto, smtp: SmtpSink, tmp_path: Path
) -> None:
    data_dir = tmp_path / "hub"
    seed(data_dir)
    hub = HubProcess(data_dir, tmp_path / "hub.toml", tmp_path / "hub.log", free_port())
    write_config(hub, broker, smtp, broker_extra="reconnect_max_s = 10.0")
    hub.start()
    try:
        # Edges reconnect within a second of the broker's return.
        dws = [honest(broker, tmp_path, dw, reconnect_max_s=1.0) for dw in HONEST]
        async with probing(hub), running_dwelling(dws[0]), running_dwelling(dws[1]):
            await wait_until(lambda: all(d.state.connected for d in dws), timeout=10)
            made = [record_outbox(d.agent) for d in dws if d.agent is not None]

            def spooled() -> list[contract.Message]:
                return [m for per_dwelling in made for m in per_dwelling]

            await wait_until(lambda: len(spooled()) >= 10, timeout=10)
            broker.stop()  # orderly: it saves its state and fires every will
            await wait_until(lambda: not any(d.state.connected for d in dws), timeout=10)
            dws[0].press("pendant-1")  # pressed while the broker is down: in the spool
            await asyncio.sleep(OUTAGE_S)  # the outage itself is what is tested here
            broker.start()

            await wait_until(lambda: all(d.state.connected for d in dws), timeout=20)
            await wait_until(
                lambda: (
                    all(d.state.spool_depth == 0 for d in dws)
                    and all(hub.processed(m.id) for m in spooled())
                ),
                timeout=40,
            )
            await wait_until(lambda: len(smtp.messages) >= 1, timeout=20)
            stats = await hub.stats()
        assert any(isinstance(m, contract.AlarmMessage) for m in spooled())
        assert not stats["rejected"] and stats["ingest"].get("dropped", 0) == 0
        # Exactly one alarm, the pendant's, and no dwelling taken for offline ...
        alarms = hub.alarms()
        assert [(a.kind, a.dwelling) for a in alarms] == [(AlarmKind.PERSONAL, "dw-001")]
        assert hub.raised_count(alarms[0].id) == 1
        # ... so the family got that alarm's mail and nothing else.
        assert [str(m["To"]) for m in smtp.messages] == [CONTACTS["dw-001"][2]]
    finally:
        hub.stop()
