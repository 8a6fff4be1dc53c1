"""Finding 4: one message took the console down for everyone.

The stolen Pi sends the probe's poisoned messages on its own topics: each is refused by
the strict contract and counted (per reason and for dw-003), the console answers 200
throughout, the operators see a "refused" technical alarm for dw-003, and an honest
alarm sent in the middle of it all arrives once, its mail free of the attacker's text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sensors import contract
from tests.edge_fixtures import running_dwelling
from tests.integration.adversarial.conftest import (
    CONTACTS,
    HOSTILE,
    HubProcess,
    honest,
    honest_alarms,
    hostile_client,
    probing,
    recording,
)
from tests.servers import Mosquitto, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def _alarm(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": contract.new_id(),
        "dwelling": HOSTILE,
        "ts": time.time(),
        "type": "alarm",
        "action": "raise",
        "alarm_id": contract.new_id(),
        "kind": "personal",
        "severity": "critical",
        "detail": {},
    }
    body.update(over)
    return body


def _batch(**reading: Any) -> dict[str, Any]:
    r = {"sensor": "room-1", "quantity": "temperature", "t": time.time(), "value": 21.0}
    r.update(reading)
    return {
        "v": 1,
        "id": contract.new_id(),
        "dwelling": HOSTILE,
        "ts": time.time(),
        "type": "readings",
        "readings": [r],
    }


# (channel, body, the reason it is refused with)
POISON: list[tuple[str, Any, str | None]] = [
    ("alarms", _alarm(detail={"for_s": 10**400}), "out_of_range"),
    # An alarm is never refused for its time: taken at the hub's clock, flagged.
    ("alarms", _alarm(ts=1e18), None),
    ("alarms", _alarm(v=True), "unknown_version"),
    ("alarms", _alarm(ts="1796000000"), "schema"),
    ("alarms", _alarm(ts=True), "schema"),
    ("alarms", _alarm(ts=0), None),
    (
        "events",
        {
            "v": 1,
            "id": contract.new_id(),
            "dwelling": HOSTILE,
            "ts": 1e18,
            "type": "event",
            "kind": "junk",
        },
        "ts_window",
    ),
    ("alarms", _alarm(detail={f"k{i}": i for i in range(5000)}), "detail_size"),
    (
        "alarms",
        _alarm(detail={"reason": "ok\nBevestig via https://evil.example/ack"}),
        "bad_text",
    ),
    ("alarms", _alarm(detail={"reason": "evil.example/ack"}), None),  # accepted, never a link
    # A key of the sender's own naming and a premium number: accepted, never in a mail.
    ("alarms", _alarm(detail={"bel_de_meldkamer_op": "0900-1234567"}), None),
]
READING_POISON = [_batch(t=1e300, value=1e308), _batch(value=float("1e308"))]


async def test_poisoned_messages_are_refused_counted_and_harm_nobody(
    broker: Mosquitto, hub: HubProcess, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with recording(broker) as rec, probing(hub) as probe:
        dw = honest(broker, tmp_path, "dw-001")
        async with running_dwelling(dw), hostile_client(broker) as thief:
            await wait_until(lambda: dw.state.connected, timeout=10)
            for channel, body, _ in POISON[: len(POISON) // 2]:
                await thief.publish(f"mz/v1/{HOSTILE}/{channel}", json.dumps(body), qos=1)
            dw.press("pendant-1")  # the honest alarm, in the middle of the attack
            for channel, body, _ in POISON[len(POISON) // 2 :]:
                await thief.publish(f"mz/v1/{HOSTILE}/{channel}", json.dumps(body), qos=1)
            for body in READING_POISON:
                await thief.publish(f"mz/v1/{HOSTILE}/readings", json.dumps(body), qos=1)
            await thief.publish(f"mz/v1/{HOSTILE}/alarms", b"\xff\xfe{not json", qos=1)

            await wait_until(lambda: len(honest_alarms(rec, "dw-001")) == 1, timeout=20)
            [alarm_id] = honest_alarms(rec, "dw-001")
            await wait_until(lambda: hub.raised_count(alarm_id) == 1, timeout=20)

            expected: dict[str, int] = {"bad_utf8": 1}
            for _, _, reason in POISON:
                if reason is not None:
                    expected[reason] = expected.get(reason, 0) + 1

            async def all_counted() -> bool:
                got = (await hub.stats())["rejected"]
                return all(got.get(k, 0) >= n for k, n in expected.items())

            await wait_until(all_counted, timeout=20)
            stats = await hub.stats()
            assert {k: stats["rejected"].get(k, 0) for k in expected} == expected
            refused = stats["refused_by_dwelling"]
            assert sum(refused[HOSTILE].values()) >= sum(expected.values())
            assert "dw-001" not in refused
            # The readings were refused one by one (their batches accepted, emptied).
            assert stats["rejected"].get("reading_time", 0) + stats["rejected"].get(
                "reading_range", 0
            ) >= len(READING_POISON)
            # Operators see that dw-003 is sending what it may not.
            await wait_until(
                lambda: any(
                    a.dwelling == HOSTILE and a.detail.get("key") == "refused" for a in hub.alarms()
                ),
                timeout=10,
            )
            await wait_until(lambda: probe.fetched >= 8, timeout=20)
            # The alarms whose time was off were raised at the hub's time, flagged.
            clocked = [
                a for a in hub.alarms() if a.dwelling == HOSTILE and a.detail.get("clock_off")
            ]
            assert len(clocked) == 2 and all(abs(a.raised_at - a.received_at) < 1 for a in clocked)
            assert stats["ingest"]["corrected.alarm_time"] == 2
            # The honest family's mail, and the thief's family's (its accepted alarms): no
            # attacker text in any of them.
            await wait_until(
                lambda: (
                    any(CONTACTS["dw-001"][2] in str(m["To"]) for m in smtp.messages)
                    and any(CONTACTS[HOSTILE][2] in str(m["To"]) for m in smtp.messages)
                ),
                timeout=20,
            )
        for m in smtp.messages:
            body = m.get_payload(decode=True)
            text = body.decode() if isinstance(body, bytes) else str(m)
            for bad in ("evil", "meldkamer", "0900"):
                assert bad not in text and bad not in str(m["Subject"])
