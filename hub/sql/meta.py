"""The one MetaData of the operational store. Each owner defines its tables in its own
module against it (alerts.tables, hub.registry_tables, hub.ops_tables); `hub.sql.schema`
imports them all so that migrations see the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

# Named constraints and indexes: Alembic can only alter or drop what has a stable name.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
