"""The alarm store's tables (alerts.store): alarms, their audit log, and the notification
outbox, on the operational store's one MetaData (hub.sql.meta)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from hub.sql.meta import metadata

# An ever-growing key: 64 bits on PostgreSQL (BIGSERIAL), SQLite's rowid alias there
# (only INTEGER PRIMARY KEY is one; AUTOINCREMENT never hands out a number twice).
Serial = BigInteger().with_variant(Integer(), "sqlite")

alarms = Table(
    "alarms",
    metadata,
    Column("id", Text, primary_key=True),
    Column("dwelling", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("raised_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("notified_at", Float),
    Column("acknowledged_at", Float),
    Column("acknowledged_by", Text),
    Column("resolved_at", Float),
    Column("resolved_by", Text),
    Column("note", Text, nullable=False, server_default=""),
    Column("sensor", Text),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Column("notifications_sent", Integer, nullable=False, server_default=text("0")),
    # Set for the hub's technical alarms: one open per (dwelling, tech_key).
    Column("tech_key", Text),
    Column("response", Text),
    Column("responder", Text),
    Column("outcome", Text),
    Column("centre_required", Integer, nullable=False, server_default=text("0")),
    Column("centre_handed_at", Float),
    Column("centre_acked_at", Float),
    # 1: no escalation step can fall due any more.
    Column("routed", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", Text),  # the operator handling it (claiming and handling)
    Column("claimed_at", Float),
    Index(None, "state", "received_at"),
    Index(None, "received_at"),
    # open_count(dwelling): the budget's cap on open alarms per dwelling.
    Index(None, "dwelling", "state"),
    Index(None, "routed", "state"),
    Index(None, "dwelling", "received_at"),
    # AlarmStore.all_clears_due: the alarms resolved lately.
    Index(None, "state", "resolved_at"),
)

# One open technical alarm per (dwelling, key), also across hub workers.
_OPEN_TECHNICAL = (alarms.c.tech_key.is_not(None)) & (alarms.c.state != "resolved")
Index(
    "alarms_open_technical",
    alarms.c.dwelling,
    alarms.c.tech_key,
    unique=True,
    sqlite_where=_OPEN_TECHNICAL,
    postgresql_where=_OPEN_TECHNICAL,
)

# Every change to an alarm, in the transaction that makes it: its timeline, and the
# change feed other workers read by `seq` (hub.watch).
alarm_log = Table(
    "alarm_log",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("alarm_id", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("what", Text, nullable=False),
    Column("by", Text),
    Column("note", Text, nullable=False, server_default=""),
    Column("contact", Text),  # the contact a handling action was about
    Index(None, "alarm_id", "seq"),
    sqlite_autoincrement=True,
)

# The notification outbox: one row per (alarm, contact, channel, round), the unit of
# "sent at most once" (docs/alerts.md, "Durability").
outbox = Table(
    "outbox",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("alarm_id", Text, nullable=False),
    Column("contact_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("round", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", Text),
    Column("claimed_at", Float),
    Column("finished_at", Float),
    Column("error", Text, nullable=False, server_default=""),
    # Copied from the alarm when queued, for the claim's order.
    Column("dwelling", Text),
    Column("severity", Text),
    # The row whose mail carried this one (its own id when it went alone), and the mail
    # thread of its (dwelling, contact, channel); set when claimed.
    Column("batch", BigInteger().with_variant(Integer(), "sqlite")),
    Column("thread", Text),
    # The idempotency key: a round is queued once per contact and channel, whichever
    # worker (or restart) computes it first.
    UniqueConstraint("alarm_id", "contact_id", "channel", "round"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "dwelling", "contact_id", "channel", "status"),
    Index(None, "dwelling", "claimed_at"),
    Index(None, "status", "claimed_at"),
    Index(None, "batch"),
    Index(None, "channel", "status"),
    sqlite_autoincrement=True,
)
