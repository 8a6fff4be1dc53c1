"""The hub's operational state (registry, alarms, outbox, audit trail, dedup, presence,
throttling, detector events) behind one schema, on SQLite or PostgreSQL through
SQLAlchemy 2 Core. `engine` opens a database and runs transactions, `meta` holds the one
MetaData every table module adds to, `schema` brings the database to the current schema."""
