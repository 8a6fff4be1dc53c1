"""The durable outbox of FHIR transaction Bundles (hub.fhir.tables.fhir_outbox), as the
alarm mails' outbox (alerts.store) is:

- queueing is idempotent on (consent, window start), and moves the subscription's cursor
  in the same transaction: a window is queued once, whoever queues it;
- a claim selects due rows `FOR UPDATE SKIP LOCKED` and updates them with a
  `status='pending'` guard in the same transaction: two hub workers never take the same
  row, neither waits for the other. The claim re-checks the consent (revoked or ended:
  `withheld`, not sent) and writes the disclosure's audit row (fhir.push) with it;
- a row whose sender died mid-send becomes `unknown` (never resent blindly).

On SQLite `FOR UPDATE` renders as nothing: writers queue on the file's write lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import Engine, RowMapping, func, select, update

from hub.context import Actor
from hub.fhir.consent import audit_row, consent_of
from hub.fhir.tables import fhir_consents, fhir_outbox
from hub.sql.engine import insert_ignore, reading, writing

PUSH_ACTION: Final = "fhir.push"
# Who discloses a push, for the audit trail.
PUSHER: Final = Actor("hub-fhir-push", "system", "fhir")
_CANDIDATES: Final = 16


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # refused by the endpoint, or out of attempts
    UNKNOWN = "unknown"  # the sender stopped mid-send: maybe delivered, not resent
    WITHHELD = "withheld"  # the consent ended before it went out


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    consent: int
    dwelling: str
    window_start: float
    window_end: float
    resources: int
    bundle: str
    status: Status
    attempts: int
    next_attempt_at: float
    error: str
    locations: tuple[str, ...]
    endpoint: str = ""  # the consent's, filled in by a claim


def _row(r: RowMapping, endpoint: str = "") -> Row:
    return Row(
        id=int(r["id"]),
        consent=int(r["consent"]),
        dwelling=r["dwelling"],
        window_start=r["window_start"],
        window_end=r["window_end"],
        resources=r["resources"],
        bundle=r["bundle"],
        status=Status(r["status"]),
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        error=r["error"],
        locations=tuple(json.loads(r["locations"])),
        endpoint=endpoint,
    )


class FhirOutbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def enqueue(
        self,
        consent: int,
        dwelling: str,
        window: tuple[float, float],
        bundle_json: str | None,
        resources: int,
        now: float,
    ) -> bool:
        """Queue the Bundle of `consent`'s window (None: the window had nothing) and move
        its cursor to the window's end, in one transaction. False when that window was
        queued already."""
        start, end = window
        with writing(self._engine) as conn:
            new = True
            if bundle_json is not None:
                stmt = insert_ignore(conn, fhir_outbox, "consent", "window_start").values(
                    consent=consent,
                    dwelling=dwelling,
                    window_start=start,
                    window_end=end,
                    resources=resources,
                    bundle=bundle_json,
                    status=Status.PENDING.value,
                    created_at=now,
                    next_attempt_at=now,
                )
                new = conn.execute(stmt).rowcount == 1
            conn.execute(
                update(fhir_consents)
                .where(fhir_consents.c.id == consent, fhir_consents.c.pushed_until < end)
                .values(pushed_until=end)
            )
        return new

    def claim(self, worker: str, now: float) -> Row | None:
        """The next due pending row, taken for sending (with its consent's endpoint) and
        its disclosure audited; rows whose consent is no longer in force are withheld on
        the way."""
        with writing(self._engine) as conn:
            candidates = conn.execute(
                select(fhir_outbox.c.id)
                .where(
                    fhir_outbox.c.status == Status.PENDING.value,
                    fhir_outbox.c.next_attempt_at <= now,
                )
                .order_by(fhir_outbox.c.next_attempt_at, fhir_outbox.c.id)
                .limit(_CANDIDATES)
            ).scalars()
            for candidate in list(candidates):
                head = (
                    conn.execute(
                        select(fhir_outbox)
                        .where(
                            fhir_outbox.c.id == candidate,
                            fhir_outbox.c.status == Status.PENDING.value,
                        )
                        .with_for_update(skip_locked=True)
                    )
                    .mappings()
                    .first()
                )
                if head is None:
                    continue
                consent = (
                    conn.execute(select(fhir_consents).where(fhir_consents.c.id == head["consent"]))
                    .mappings()
                    .first()
                )
                in_force = (
                    consent is not None
                    and consent["endpoint"] is not None
                    and consent_of(consent).in_force(now)
                )
                if not in_force:
                    conn.execute(
                        update(fhir_outbox)
                        .where(fhir_outbox.c.id == candidate)
                        .values(
                            status=Status.WITHHELD.value,
                            finished_at=now,
                            error="the consent is no longer in force",
                        )
                    )
                    continue
                assert consent is not None
                claimed = (
                    conn.execute(
                        update(fhir_outbox)
                        .where(
                            fhir_outbox.c.id == candidate,
                            fhir_outbox.c.status == Status.PENDING.value,
                        )
                        .values(
                            status=Status.SENDING.value,
                            claimed_by=worker,
                            claimed_at=now,
                            attempts=fhir_outbox.c.attempts + 1,
                        )
                        .returning(*fhir_outbox.c)
                    )
                    .mappings()
                    .one()
                )
                audit_row(
                    conn,
                    PUSHER,
                    PUSH_ACTION,
                    head["dwelling"],
                    f"consent {consent['id']}: {consent['institution']}, bundle {candidate},"
                    f" {head['resources']} resources, attempt {claimed['attempts']}",
                    now,
                )
                return _row(claimed, str(consent["endpoint"]))
        return None

    def sent(self, row_id: int, locations: Sequence[str], now: float) -> None:
        self._finish(row_id, Status.SENT, now, "", json.dumps(list(locations)))

    def failed(self, row_id: int, now: float, error: str) -> None:
        self._finish(row_id, Status.FAILED, now, error, None)

    def _finish(
        self, row_id: int, status: Status, now: float, error: str, locations: str | None
    ) -> None:
        values: dict[str, object] = {
            "status": status.value,
            "finished_at": now,
            "error": error[:500],
        }
        if locations is not None:
            values["locations"] = locations
        with writing(self._engine) as conn:
            conn.execute(
                update(fhir_outbox)
                .where(fhir_outbox.c.id == row_id, fhir_outbox.c.status == Status.SENDING.value)
                .values(**values)
            )

    def retry_later(self, row_id: int, at: float, error: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                update(fhir_outbox)
                .where(fhir_outbox.c.id == row_id, fhir_outbox.c.status == Status.SENDING.value)
                .values(
                    status=Status.PENDING.value,
                    next_attempt_at=at,
                    error=error[:500],
                    claimed_by=None,
                )
            )

    def expire_leases(self, older_than: float, now: float) -> list[int]:
        """Rows claimed before `older_than` and still 'sending' (their sender died) become
        'unknown': never resent, the Bundle may have arrived."""
        with writing(self._engine) as conn:
            ids = list(
                conn.execute(
                    select(fhir_outbox.c.id)
                    .where(
                        fhir_outbox.c.status == Status.SENDING.value,
                        fhir_outbox.c.claimed_at < older_than,
                    )
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                conn.execute(
                    update(fhir_outbox)
                    .where(fhir_outbox.c.id.in_(ids), fhir_outbox.c.status == Status.SENDING.value)
                    .values(
                        status=Status.UNKNOWN.value,
                        finished_at=now,
                        error="sender stopped mid-send; not resent",
                    )
                )
        return sorted(ids)

    def rows(self, consent: int | None = None) -> list[Row]:
        query = select(fhir_outbox).order_by(fhir_outbox.c.id)
        if consent is not None:
            query = query.where(fhir_outbox.c.consent == consent)
        with reading(self._engine) as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(fhir_outbox.c.status, func.count()).group_by(fhir_outbox.c.status)
            ).all()
        return {status: int(n) for status, n in rows}
