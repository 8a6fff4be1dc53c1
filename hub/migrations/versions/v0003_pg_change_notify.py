"""PostgreSQL: every alarm_log entry NOTIFYs the consoles' change feed (hub.pg_feed)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

On SQLite the feed reads alarm_log by its AUTOINCREMENT seq (hub.watch.SqliteFeed); on
PostgreSQL sequence numbers are taken before commit, so seq order is not commit order and
a reader could skip a row committed late. There the writers' own transaction notifies
instead: NOTIFY is delivered at commit, and only then.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "mz_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
CREATE FUNCTION mz_notify_alarm_log() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'alarm_log:' || NEW.alarm_id || ':' ||
        COALESCE((SELECT dwelling FROM alarms WHERE id = NEW.alarm_id), ''));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
    )
    op.execute(
        "CREATE TRIGGER mz_alarm_log_notify AFTER INSERT ON alarm_log "
        "FOR EACH ROW EXECUTE FUNCTION mz_notify_alarm_log()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS mz_alarm_log_notify ON alarm_log")
    op.execute("DROP FUNCTION IF EXISTS mz_notify_alarm_log()")
