"""Alembic migrations of the operational store (hub.sql). `hub.sql.schema.prepare` runs
them; `alembic -c hub/migrations/alembic.ini revision --autogenerate -m ...` (from the
repository root, with MZ_ALEMBIC_URL pointing at a database at head) drafts a new one."""
