"""The FHIR link's tables (hub.fhir.consent, hub.fhir.outbox) on the operational store's
one MetaData (hub.sql.meta): each resident's consents to share data with a care
institution, the push subscriptions' cursors, and the outbox of transaction Bundles.

Times UNIX seconds (REAL), JSON lists TEXT, as in hub.registry_tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from hub.sql.meta import metadata

Serial = BigInteger().with_variant(Integer(), "sqlite")

# One consent: which institution may receive which categories of a resident's data
# (hub.fhir.consent.CATEGORIES), from when until when; `endpoint` set: pushed there too.
# A revoked consent stays (revoked_at) so the trail can say what was allowed when.
fhir_consents = Table(
    "fhir_consents",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), nullable=False),
    Column("institution", Text, nullable=False),
    Column("categories", Text, nullable=False),  # JSON list
    Column("valid_from", Float, nullable=False),
    Column("valid_until", Float),
    Column("endpoint", Text),
    Column("created_at", Float, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", Float),
    Column("revoked_by", Text),
    # How far a push subscription has put the resident's data in the outbox (UNIX s).
    Column("pushed_until", Float),
    Index(None, "dwelling"),
    sqlite_autoincrement=True,
)

# One transaction Bundle for one consent's endpoint: the unit of "sent at most once".
# pending -> sending -> sent | failed | unknown (sender died mid-send: never resent) |
# withheld (the consent ended before it went out).
fhir_outbox = Table(
    "fhir_outbox",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("consent", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("dwelling", Text, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("resources", Integer, nullable=False),
    Column("bundle", Text, nullable=False),  # JSON
    Column("status", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", Text),
    Column("claimed_at", Float),
    Column("finished_at", Float),
    Column("error", Text, nullable=False, server_default=""),
    Column("locations", Text, nullable=False, server_default="[]"),  # JSON, the answer's
    UniqueConstraint("consent", "window_start"),
    Index(None, "status", "next_attempt_at"),
    sqlite_autoincrement=True,
)
