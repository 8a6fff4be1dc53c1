"""alarms: an index on (state, resolved_at), for the all-clears owed to contacts of the
alarms resolved lately (alerts.store.AlarmStore.all_clears_due)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 18:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alarms_state_resolved_at"), ["state", "resolved_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarms_state_resolved_at"))
