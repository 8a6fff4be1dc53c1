"""Ingest.handle_batch: the readings session's batches, without a broker (real stores)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub, build_hub
from hub.context import Dwelling
from hub.ingest import REGISTRY_CACHE_S, Incoming
from sensors.contract import Reading, ReadingsBatch, encode, new_id
from tests.hub_offline import offline_hub_settings

T0 = 1_800_000_000.0


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = offline_hub_settings(
        tmp_path,
        # Three batches at once per dwelling, then one a minute: a retry must not pay twice.
        budget={"bulk_messages_burst": 3, "bulk_messages_per_s": 1 / 60},
    )
    h = build_hub(settings, clock=lambda: T0 + 10)
    for dw in ("dw-001", "dw-002"):
        h.registry.add_dwelling(Dwelling(dw, dw))
    yield h
    await h.close()


def batch(dw: str, t: float, msg_id: str | None = None) -> Incoming:
    msg = ReadingsBatch(
        id=msg_id or new_id(),
        dwelling=dw,
        ts=t,
        readings=[Reading(sensor="hr-1", quantity="hr", t=t, value=60.0 + t - T0)],
    )
    topic, payload = encode(msg)
    return Incoming(topic, payload)


async def stored(hub: Hub, dw: str) -> list[float]:
    return [p.t - T0 for p in await hub.store.series(dw, "hr-1", "hr", 0, 1e12)]


async def test_a_batch_is_stored_with_its_verdicts_in_order(hub: Hub) -> None:
    again = new_id()
    items = [
        batch("dw-001", T0 + 1),
        Incoming("mz/v1/dw-001/readings", b"{not json"),
        batch("dw-002", T0 + 2, again),
        batch("dw-002", T0 + 2, again),  # redelivered within the same batch
        batch("dw-009", T0 + 3),  # not registered
    ]
    verdicts = await hub.ingest.handle_batch(items)
    assert [v.outcome for v in verdicts] == [
        "accepted",
        "rejected",
        "accepted",
        "duplicate",
        "rejected",
    ]
    assert await stored(hub, "dw-001") == [1.0]
    assert await stored(hub, "dw-002") == [2.0]
    # Both dwellings heard from (presence is observed once per batch, per dwelling).
    board = {h.dwelling: h for h in hub.presence.board()}
    assert board["dw-001"].online and board["dw-002"].online
    assert board["dw-001"].last_seen == board["dw-002"].last_seen == T0 + 10
    # Redelivered later (the hub died before its PUBACKs): recognised, nothing new.
    later = await hub.ingest.handle_batch([batch("dw-002", T0 + 2, again), batch("dw-001", T0 + 4)])
    assert [v.outcome for v in later] == ["duplicate", "accepted"]
    assert hub.stats.get("accepted.readings") == 3 and hub.stats.get("duplicate") == 2
    # dw-001 has now sent three messages (one of them junk): its burst. A fourth is refused.
    [over] = await hub.ingest.handle_batch([batch("dw-001", T0 + 5)])
    assert over.outcome == "rejected"


async def test_a_failed_batch_write_is_retried_one_by_one(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hub.store.write_points
    calls: list[int] = []

    async def fails_once(points: Any) -> None:
        calls.append(len(points))
        if len(calls) == 1:
            raise OSError("disk hiccup")
        await real(points)

    monkeypatch.setattr(hub.store, "write_points", fails_once)
    verdicts = await hub.ingest.handle_batch([batch("dw-001", T0 + i) for i in range(3)])
    # Retried one by one without paying the budget again (exactly the burst of 3).
    assert [v.outcome for v in verdicts] == ["accepted"] * 3
    assert calls == [3, 1, 1, 1]
    assert await stored(hub, "dw-001") == [0.0, 1.0, 2.0]
    assert hub.stats.get("failed") == 1


async def test_a_batch_asks_the_registry_once_for_all_its_dwellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood from a thousand dwellings must not cost a registry query per dwelling; a
    dwelling removed from the registry is refused once its cached answer has expired."""
    now = [T0 + 10]
    settings = offline_hub_settings(tmp_path)
    h = build_hub(settings, clock=lambda: now[0])
    try:
        dwellings = [f"dw-{i:03d}" for i in range(1, 51)]
        for dw in dwellings:
            h.registry.add_dwelling(Dwelling(dw, dw))
        asked: list[set[str]] = []
        real = h.registry.registered

        def counting(ids: Any) -> set[str]:
            asked.append(set(ids))
            return real(ids)

        monkeypatch.setattr(h.registry, "registered", counting)
        first = [batch(dw, T0 + 1) for dw in dwellings] + [batch("dw-099", T0 + 1)]
        verdicts = await h.ingest.handle_batch(first)
        assert [v.outcome for v in verdicts] == ["accepted"] * 50 + ["rejected"]
        assert asked == [{*dwellings, "dw-099"}]
        # Within the cache time nothing is asked again.
        again = await h.ingest.handle_batch([batch(dw, T0 + 2) for dw in dwellings[:3]])
        assert [v.outcome for v in again] == ["accepted"] * 3 and len(asked) == 1
        h.registry.remove_dwelling("dw-001")
        now[0] += REGISTRY_CACHE_S + 1
        later = await h.ingest.handle_batch([batch("dw-001", T0 + 3), batch("dw-002", T0 + 3)])
        assert [v.outcome for v in later] == ["rejected", "accepted"]
        assert asked[1:] == [{"dw-001", "dw-002"}]
        assert h.stats.get("rejected.unknown_dwelling") == 2
    finally:
        await h.close()
