"""Time-series storage: one protocol, an embedded SQLite store (default), InfluxDB later."""
