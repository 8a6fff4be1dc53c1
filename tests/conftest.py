from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.sql.engine import open_engine
from hub.sql.schema import prepare
from tests.postgres import Postgres, running_postgres
from tests.servers import (
    InfluxDB1,
    Mosquitto,
    SmtpSink,
    running_influxdb,
    running_mosquitto,
    running_smtp,
)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto per test: tests restart and kill it, so none is shared."""
    d = tmp_path / "mosquitto"
    d.mkdir()
    with running_mosquitto(d) as broker:
        yield broker


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running_smtp() as sink:
        yield sink


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One PostgreSQL for the whole test run (starting one takes seconds)."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    """The URL of a new, empty PostgreSQL database for this test."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty operational store, once on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sql_engine(sql_url: str) -> Iterator[Engine]:
    """The operational store's engine, once on each backend, at the current schema: the
    backend-neutral contract tests take this."""
    engine = open_engine(sql_url)
    prepare(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """One InfluxDB 1.6.7 for the run; each test takes a database of its own (influx_db)."""
    with running_influxdb(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture
def influx_url(influxdb_server: InfluxDB1) -> str:
    """`[timeseries] url` of a new database for this test on the shared InfluxDB 1.x."""
    return influxdb_server.url(f"mz_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def edge_state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Edge settings made in-process without a spool path put the agent's state files
    (vitals.json, routine.json, ... beside the spool) in the test's own directory, not in
    /var/lib/mz-edge. Only for tests that start no agent process (a subprocess would
    inherit the variable)."""
    monkeypatch.setenv("MZ_EDGE_SPOOL__PATH", str(tmp_path / "spool.sqlite"))
