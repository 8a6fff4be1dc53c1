"""Pushing new data to the institutions that subscribed (a consent with an endpoint):
every `interval_s` each subscription's next window (from its cursor up to `settle_s`
ago, at most `window_max_s`) is collected into a transaction Bundle and queued
(hub.fhir.outbox); the sender POSTs each queued Bundle to the endpoint's base URL, records
the locations of the created resources from the transaction-response, and retries
transient failures with jittered exponential backoff.

The window ends `settle_s` in the past: what an edge's spool delivers late (measured
before the cursor) arrives within that margin and is still pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from hub.fhir import bundle
from hub.fhir.collect import AlarmSource, collect
from hub.fhir.consent import ConsentStore
from hub.fhir.outbox import PUSHER, FhirOutbox, Row
from hub.storage.base import TimeSeriesStore

log = logging.getLogger(__name__)

FHIR_JSON: Final = "application/fhir+json"
# Answers worth another try (the request may succeed later); other 4xx are final.
_TRANSIENT: Final = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class PushPolicy:
    interval_s: float = 60.0
    settle_s: float = 120.0
    window_max_s: float = 3600.0
    timeout_s: float = 20.0
    max_attempts: int = 8
    backoff_s: float = 10.0
    backoff_max_s: float = 1800.0
    lease_s: float = 300.0  # a row 'sending' longer than this: its sender died
    # Windows per subscription per round: a consent reaching far back catches up over
    # several rounds instead of holding the loop for all of it at once.
    windows_per_round: int = 24


class Pusher:
    def __init__(
        self,
        consents: ConsentStore,
        outbox: FhirOutbox,
        store: TimeSeriesStore,
        alarms: AlarmSource | None,
        kinds: Callable[[str], Mapping[str, str]],
        clock: Callable[[], float],
        *,
        policy: PushPolicy | None = None,
        worker: str = "hub",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.consents = consents
        self.outbox = outbox
        self.store = store
        self.alarms = alarms
        self.kinds = kinds
        self.clock = clock
        self.policy = policy or PushPolicy()
        self.worker = worker
        self._transport = transport

    async def run(self, stop: asyncio.Event) -> None:
        async with self._client() as client:
            while not stop.is_set():
                await self.queue_due()
                await self.send_due(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.policy.interval_s)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.policy.timeout_s, transport=self._transport)

    async def queue_due(self) -> int:
        """Queue each subscription's next windows up to `settle_s` ago; returns how many
        Bundles were queued."""
        now = self.clock()
        horizon = now - self.policy.settle_s
        queued = 0
        for consent in await asyncio.to_thread(self.consents.subscriptions, now):
            start = consent.pushed_until if consent.pushed_until is not None else consent.valid_from
            for _ in range(self.policy.windows_per_round):
                if start >= horizon:
                    break
                end = min(horizon, start + self.policy.window_max_s)
                disclosure = await asyncio.to_thread(
                    self.consents.disclose,
                    consent.dwelling,
                    consent.categories,
                    start,
                    end,
                    PUSHER,
                    None,  # audited when it is sent (hub.fhir.outbox.claim)
                    now,
                    consent_id=consent.id,
                )
                found = None
                if disclosure is not None:
                    found = await collect(
                        disclosure, self.store, self.alarms, self.kinds(consent.dwelling), now
                    )
                body = None
                if found is not None and found.resources:
                    body = bundle.to_json(bundle.transaction(found.resources))
                new = await asyncio.to_thread(
                    self.outbox.enqueue,
                    consent.id,
                    consent.dwelling,
                    (start, end),
                    body,
                    found.data if found else 0,
                    now,
                )
                queued += int(new and body is not None)
                start = end
        return queued

    async def send_due(self, client: httpx.AsyncClient | None = None) -> int:
        """Send every due queued Bundle; returns how many were delivered."""
        if client is None:
            async with self._client() as own:
                return await self.send_due(own)
        now = self.clock()
        expired = await asyncio.to_thread(self.outbox.expire_leases, now - self.policy.lease_s, now)
        for row_id in expired:
            log.error("FHIR bundle %d: sender stopped mid-send; not resent", row_id)
        delivered = 0
        while row := await asyncio.to_thread(self.outbox.claim, self.worker, self.clock()):
            delivered += await self._send(client, row)
        return delivered

    async def _send(self, client: httpx.AsyncClient, row: Row) -> int:
        try:
            response = await client.post(
                row.endpoint,
                content=row.bundle.encode(),
                headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
            )
        except httpx.HTTPError as exc:
            await self._again(row, f"{type(exc).__name__}: {exc}")
            return 0
        if response.status_code >= 500 or response.status_code in _TRANSIENT:
            await self._again(row, f"HTTP {response.status_code}")
            return 0
        if response.status_code >= 400:
            log.error(
                "FHIR bundle %d refused by %s: HTTP %d", row.id, row.endpoint, response.status_code
            )
            await asyncio.to_thread(
                self.outbox.failed,
                row.id,
                self.clock(),
                f"HTTP {response.status_code}: {response.text[:300]}",
            )
            return 0
        try:
            locations = bundle.response_locations(response.text)
        except ValueError as exc:
            # Taken (2xx), but the answer is no transaction-response: delivered, unrecorded.
            log.warning("FHIR bundle %d: unreadable answer from %s: %s", row.id, row.endpoint, exc)
            locations = []
        await asyncio.to_thread(self.outbox.sent, row.id, locations, self.clock())
        log.info("FHIR bundle %d: %d resources to %s", row.id, row.resources, row.endpoint)
        return 1

    async def _again(self, row: Row, error: str) -> None:
        now = self.clock()
        if row.attempts >= self.policy.max_attempts:
            log.error(
                "FHIR bundle %d: giving up after %d attempts: %s", row.id, row.attempts, error
            )
            await asyncio.to_thread(self.outbox.failed, row.id, now, error)
            return
        delay = min(self.policy.backoff_max_s, self.policy.backoff_s * 2 ** (row.attempts - 1))
        at = now + delay * random.uniform(0.8, 1.2)
        await asyncio.to_thread(self.outbox.retry_later, row.id, at, error)
        log.warning("FHIR bundle %d: %s; again in %.0f s", row.id, error, delay)
