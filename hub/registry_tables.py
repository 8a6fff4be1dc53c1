"""The registry's tables (hub.registry, hub.family_access) on the operational store's one
MetaData (hub.sql.meta): dwellings, contacts and their logins, operators, sessions,
routing, the alarm centre's accounts and zones, the resident card, the audit trail, and
the change log the consoles' live updates read on SQLite (hub.registry_changes).

Booleans are INTEGER 0/1, times UNIX seconds (REAL), JSON lists TEXT: the same on SQLite
and PostgreSQL, and the same as the registry file they come from (hub.legacy_import).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from hub.sql.meta import metadata

# An ever-growing key: BIGSERIAL on PostgreSQL, SQLite's rowid alias (AUTOINCREMENT).
Serial = BigInteger().with_variant(Integer(), "sqlite")

dwellings = Table(
    "dwellings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("label", Text, nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("language", Text, nullable=False, server_default="nl"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("email", Text),
    Column("language", Text, nullable=False, server_default="nl"),
    Column("priority", Integer, nullable=False, server_default=text("1")),
    Column("link_key", Text, nullable=False, server_default=""),
    Column("phone", Text),
    Column("channels", Text, nullable=False, server_default="[]"),  # JSON list, in order
    Column("role", Text, nullable=False, server_default="family"),
    Column("windows", Text, nullable=False, server_default="[]"),  # JSON ("ma-vr 08:00-18:00")
    Index(None, "dwelling", "priority"),
)

operators = Table(
    "operators",
    metadata,
    Column("username", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("password_hash", Text, nullable=False),
    Column("enabled", Integer, nullable=False, server_default=text("1")),
)

# The cookie holds a random id; only its SHA-256 is stored here (hub.session_store).
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column("username", Text, ForeignKey("operators.username", ondelete="CASCADE"), nullable=False),
    Column("csrf", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("idle_expires_at", Float, nullable=False),
    Column("language", Text),
    Index(None, "username"),
)

# A dwelling's own routing policy; without a row it has the default one.
routing = Table(
    "routing",
    metadata,
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True),
    Column("centre_after_s", Float),
    Column("installer", Text, ForeignKey("contacts.id", ondelete="SET NULL")),
)

# Its recipients in order; a removed contact leaves the order (ON DELETE CASCADE).
routing_steps = Table(
    "routing_steps",
    metadata,
    Column("dwelling", Text, ForeignKey("routing.dwelling", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("contact", Text, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("wait_s", Float, nullable=False),
    PrimaryKeyConstraint("dwelling", "position"),
)

alarm_centre_accounts = Table(
    "alarm_centre_accounts",
    metadata,
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True),
    Column("account", Text, nullable=False),
    UniqueConstraint("account"),
)

sensor_zones = Table(
    "sensor_zones",
    metadata,
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), nullable=False),
    Column("sensor", Text, nullable=False),
    Column("zone", Integer, nullable=False),
    PrimaryKeyConstraint("dwelling", "sensor"),
    UniqueConstraint("dwelling", "zone"),
)

# The resident card; without a row a dwelling's card is empty. key_safe and care_notes
# are secrets: only reveal_key_safe / reveal_care_notes select them, with an audit row.
residents = Table(
    "residents",
    metadata,
    Column("dwelling", Text, ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("first_name", Text, nullable=False, server_default=""),
    Column("date_of_birth", Text),  # ISO date
    Column("access", Text, nullable=False, server_default=""),
    Column("gp_name", Text, nullable=False, server_default=""),
    Column("gp_phone", Text),
    Column("phone", Text),
    Column("news2_scale", Integer, nullable=False, server_default=text("1")),
    Column("on_oxygen", Integer, nullable=False, server_default=text("0")),
    Column("institution_patient_id", Text),
    Column("key_safe", Text, nullable=False, server_default=""),
    Column("care_notes", Text, nullable=False, server_default=""),
    Column("updated_at", Float),
    Column("updated_by", Text),
    CheckConstraint("news2_scale IN (1, 2)", name="news2_scale"),
)

# Who read or changed what. No foreign key: the trail outlives a removed dwelling.
audit = Table(
    "audit",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("dwelling", Text),
    Column("detail", Text, nullable=False, server_default=""),
    Column("source", Text, nullable=False),
    Index(None, "at"),
    Index(None, "dwelling", "at"),
    sqlite_autoincrement=True,
)

# -- the mantelzorger's page (hub.family_access) -----------------------------------------

contact_logins = Table(
    "contact_logins",
    metadata,
    Column("contact", Text, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("set_at", Float, nullable=False),
)

# The cookie (mz_family) holds a random id; only its SHA-256 is stored here.
family_sessions = Table(
    "family_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column("contact", Text, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("dwelling", Text, nullable=False),
    Column("link_key", Text, nullable=False),
    Column("via", Text, nullable=False),  # 'password' or 'link'
    Column("csrf", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("idle_expires_at", Float, nullable=False),
    Column("idle_s", Float, nullable=False),  # how long it may go unused (by `via`)
    Column("language", Text),
    Index(None, "contact"),
)

family_prefs = Table(
    "family_prefs",
    metadata,
    Column("contact", Text, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("daily_summary", Integer, nullable=False, server_default=text("0")),
    Column("enabled_at", Float),
    Column("summary_sent_day", Text),  # the local date (YYYY-MM-DD) of the last one claimed
)

# -- the change log (hub.registry_changes) ---------------------------------------------

# Filled by SQLite triggers (migration 0005) and read by hub.watch by `seq`; on
# PostgreSQL the same triggers NOTIFY instead (hub.pg_feed) and this stays empty.
registry_changes = Table(
    "registry_changes",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("tbl", Text, nullable=False),
    Column("key", Text),
    sqlite_autoincrement=True,
)
