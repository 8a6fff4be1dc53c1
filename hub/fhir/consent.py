"""Each resident's consent to share data with a care institution, and the audit of every
disclosure made under it.

A consent names one institution, the categories of data it may have (CATEGORIES), and the
period of the data it covers ([valid_from, valid_until), data measured then); with an
endpoint, new data is also pushed there (hub.fhir.push). Revoked, it allows nothing more
from that moment on, and stays in the table for the trail.

`disclose` is the one gate: it finds the consent that covers a request, clips the
request's window to it, and commits the disclosure's audit row before anything is read
(no row, no data), as hub.registry's reveal of a care note does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, RowMapping, insert, select, update
from sqlalchemy.exc import DBAPIError

from hub.context import Actor
from hub.errors import AuditFailed, InvalidValue, NotFound
from hub.fhir.tables import fhir_consents
from hub.registry_tables import audit, dwellings, residents
from hub.sql.engine import reading, writing

VITAL_SIGNS: Final = "vital-signs"
NEWS2: Final = "news2"
ALARMS: Final = "alarms"
CATEGORIES: Final = (VITAL_SIGNS, NEWS2, ALARMS)
# An institution's code: lower case, digits, dashes (it becomes part of an identifier
# system URI, urn:mz:institution:<code>).
_INSTITUTION: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_ENDPOINT: Final = re.compile(r"https?://[^\s]{1,500}")


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    dwelling: str
    institution: str
    categories: tuple[str, ...]
    valid_from: float
    valid_until: float | None
    endpoint: str | None
    created_at: float
    created_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None
    pushed_until: float | None = None

    def in_force(self, now: float) -> bool:
        return self.revoked_at is None and (self.valid_until is None or now < self.valid_until)

    def clip(self, start: float, end: float) -> tuple[float, float] | None:
        """The part of [start, end) this consent covers (None: none)."""
        lo = max(start, self.valid_from)
        hi = end if self.valid_until is None else min(end, self.valid_until)
        return (lo, hi) if lo < hi else None


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What may be disclosed, to whom: granted by `disclose`, already audited."""

    consent: Consent
    patient_id: str  # the institution's identifier of the resident (registry)
    categories: tuple[str, ...]
    start: float
    end: float


def consent_of(row: RowMapping) -> Consent:
    return Consent(
        id=int(row["id"]),
        dwelling=row["dwelling"],
        institution=row["institution"],
        categories=tuple(json.loads(row["categories"])),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        endpoint=row["endpoint"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        pushed_until=row["pushed_until"],
    )


def check_categories(categories: Collection[str]) -> tuple[str, ...]:
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown or not categories:
        raise InvalidValue(
            "categories", f"one or more of {', '.join(CATEGORIES)}, not {sorted(categories)}"
        )
    return tuple(c for c in CATEGORIES if c in categories)


class ConsentStore:
    """The consents (hub.fhir.tables.fhir_consents) and the disclosures' audit rows (the
    registry's audit table), on the operational store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def grant(
        self,
        dwelling: str,
        institution: str,
        categories: Collection[str],
        valid_from: float,
        actor: Actor,
        now: float,
        *,
        valid_until: float | None = None,
        endpoint: str | None = None,
    ) -> Consent:
        """Record a consent (audited as fhir.consent.grant). The resident must have the
        institution's identifier on their card."""
        if not _INSTITUTION.fullmatch(institution):
            raise InvalidValue("institution", "lower-case letters, digits and '-', 2-63")
        cats = check_categories(categories)
        if not math.isfinite(valid_from) or (
            valid_until is not None
            and not (math.isfinite(valid_until) and valid_until > valid_from)
        ):
            raise InvalidValue("valid_until", "after valid_from")
        if endpoint is not None and not _ENDPOINT.fullmatch(endpoint):
            raise InvalidValue("endpoint", "an http(s) URL (the institution's FHIR base)")
        values: dict[str, Any] = {
            "dwelling": dwelling,
            "institution": institution,
            "categories": json.dumps(list(cats)),
            "valid_from": valid_from,
            "valid_until": valid_until,
            "endpoint": endpoint,
            "created_at": now,
            "created_by": actor.name,
            "pushed_until": valid_from if endpoint else None,
        }
        with self._audited() as conn:
            if self._patient_id(conn, dwelling) is None:
                raise InvalidValue(
                    "institution_patient_id",
                    f"{dwelling} has no institution identifier on its card (mz admin resident)",
                )
            new_id = conn.execute(
                insert(fhir_consents).values(values).returning(fhir_consents.c.id)
            ).scalar_one()
            audit_row(
                conn,
                actor,
                "fhir.consent.grant",
                dwelling,
                f"consent {new_id}: {institution}, {', '.join(cats)}",
                now,
            )
        return Consent(id=int(new_id), **{**values, "categories": cats})

    def revoke(self, consent_id: int, actor: Actor, now: float) -> Consent:
        with self._audited() as conn:
            row = (
                conn.execute(
                    select(fhir_consents).where(fhir_consents.c.id == consent_id).with_for_update()
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("consent", str(consent_id))
            if row["revoked_at"] is None:
                conn.execute(
                    update(fhir_consents)
                    .where(fhir_consents.c.id == consent_id)
                    .values(revoked_at=now, revoked_by=actor.name)
                )
                audit_row(
                    conn,
                    actor,
                    "fhir.consent.revoke",
                    row["dwelling"],
                    f"consent {consent_id}: {row['institution']}",
                    now,
                )
        found = self.get(consent_id)
        assert found is not None
        return found

    def get(self, consent_id: int) -> Consent | None:
        with reading(self._engine) as conn:
            row = (
                conn.execute(select(fhir_consents).where(fhir_consents.c.id == consent_id))
                .mappings()
                .first()
            )
        return None if row is None else consent_of(row)

    def consents(self, dwelling: str | None = None) -> list[Consent]:
        query = select(fhir_consents).order_by(fhir_consents.c.id)
        if dwelling is not None:
            query = query.where(fhir_consents.c.dwelling == dwelling)
        with reading(self._engine) as conn:
            return [consent_of(r) for r in conn.execute(query).mappings()]

    def subscriptions(self, now: float) -> list[Consent]:
        """The consents in force that have an endpoint (push subscriptions)."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(fhir_consents)
                .where(fhir_consents.c.endpoint.is_not(None), fhir_consents.c.revoked_at.is_(None))
                .order_by(fhir_consents.c.id)
            ).mappings()
            return [c for c in map(consent_of, rows) if c.in_force(now)]

    def disclose(
        self,
        dwelling: str,
        categories: Collection[str],
        start: float,
        end: float,
        actor: Actor,
        action: str | None,
        now: float,
        *,
        institution: str | None = None,
        consent_id: int | None = None,
    ) -> Disclosure | None:
        """The disclosure of `dwelling`'s data of `categories` measured in [start, end)
        that a consent in force at `now` allows (for `institution`, or under `consent_id`,
        when given), clipped to it, with its audit row (`action`) committed; None when no
        consent allows any of it (nothing is audited: nothing is disclosed). With `action`
        None no row is written: for what is only prepared now and disclosed later with an
        audit row of its own (a push, hub.fhir.outbox)."""
        wanted = set(check_categories(categories))
        with self._audited() as conn:
            patient_id = self._patient_id(conn, dwelling)
            if patient_id is None:
                return None
            query = select(fhir_consents).where(
                fhir_consents.c.dwelling == dwelling, fhir_consents.c.revoked_at.is_(None)
            )
            if institution is not None:
                query = query.where(fhir_consents.c.institution == institution)
            if consent_id is not None:
                query = query.where(fhir_consents.c.id == consent_id)
            for consent in map(
                consent_of, conn.execute(query.order_by(fhir_consents.c.id)).mappings()
            ):
                cats = tuple(c for c in consent.categories if c in wanted)
                window = consent.clip(start, end)
                if not consent.in_force(now) or not cats or window is None:
                    continue
                if action is None:
                    return Disclosure(consent, patient_id, cats, window[0], window[1])
                audit_row(
                    conn,
                    actor,
                    action,
                    dwelling,
                    f"consent {consent.id}: {consent.institution}, {', '.join(cats)},"
                    f" data {window[0]:.0f}-{window[1]:.0f}",
                    now,
                )
                return Disclosure(consent, patient_id, cats, window[0], window[1])
        return None

    def advance(self, consent_id: int, pushed_until: float) -> None:
        """Move a subscription's cursor forward (never back)."""
        with writing(self._engine) as conn:
            conn.execute(
                update(fhir_consents)
                .where(
                    fhir_consents.c.id == consent_id,
                    fhir_consents.c.pushed_until < pushed_until,
                )
                .values(pushed_until=pushed_until)
            )

    @staticmethod
    def _patient_id(conn: Connection, dwelling: str) -> str | None:
        if conn.execute(select(dwellings.c.id).where(dwellings.c.id == dwelling)).first() is None:
            raise NotFound("dwelling", dwelling)
        value = conn.execute(
            select(residents.c.institution_patient_id).where(residents.c.dwelling == dwelling)
        ).scalar()
        return str(value) if value else None

    @contextmanager
    def _audited(self) -> Iterator[Connection]:
        """A write transaction whose database errors are AuditFailed (nothing disclosed)."""
        try:
            with writing(self._engine) as conn:
                yield conn
        except DBAPIError as exc:
            raise AuditFailed(
                f"the audit trail cannot be written, nothing disclosed: {exc}"
            ) from exc


def audit_row(
    conn: Connection, actor: Actor, action: str, dwelling: str, detail: str, now: float
) -> None:
    conn.execute(
        insert(audit).values(
            at=now,
            actor=actor.name,
            role=actor.role,
            action=action,
            dwelling=dwelling,
            detail=detail[:500],
            source=actor.source,
        )
    )
