"""The hub's own operational tables (beside the registry's and the alarms'): message ids
seen, presence, who owns presence, detector events, and parked messages."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, String, Table, Text

from hub.sql.meta import metadata

# Message ids processed (hub.dedup): recorded in the transaction of the write they guard.
seen = Table(
    "seen",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("seen_at", Float, nullable=False),
    Index(None, "seen_at"),
)

# Last-known presence per dwelling, as JSON (hub.presence).
presence = Table(
    "presence",
    metadata,
    Column("dwelling", String(64), primary_key=True),
    Column("state", Text, nullable=False),
)

# Leases: one row per job that must have a single owner among the hub workers (presence).
# Taken and renewed by compare-and-set, so it works the same on SQLite and PostgreSQL.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Detector events (id-keyed records: not for a time-series engine).
events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dwelling", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("sensor", String(64)),
    Column("ts", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("detail", Text, nullable=False),
    Index(None, "dwelling", "ts"),
    Index(None, "dwelling", "kind", "ts"),
)

# Messages whose processing keeps failing: parked here, acknowledged, counted.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("key", String(128), primary_key=True),  # the message id, or topic + digest
    Column("topic", String(256), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", Float, nullable=False),
    Column("last_failed_at", Float, nullable=False),
    Column("parked_at", Float),  # NULL: still being retried
    Column("error", Text, nullable=False),
    Index(None, "parked_at"),
)

# The console's login throttle, shared by the workers (hub.login_throttle_store): one row
# per key (user:..., ip:..., device:...), its state as JSON.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(None, "updated_at"),
)
