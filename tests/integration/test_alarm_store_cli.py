"""`mz report` and `mz admin` find the alarm store through the hub's `[storage] sql`, on
SQLite and on PostgreSQL, and never create one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.store import AlarmStore
from hub.admin_cli import _open_alarms
from hub.sql.engine import open_engine
from mz.cli import app

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n\n[storage]\nsql = "{url}"\n')
    return path


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_the_report_reads_the_configured_store(sql_engine: Engine, tmp_path: Path) -> None:
    store = AlarmStore(sql_engine)
    store.insert_alarm(
        AlarmRecord(
            id="alarm-0001",
            dwelling="dw-001",
            kind=AlarmKind.FALL,
            severity=Severity.HIGH,
            state=AlarmState.RAISED,
            source="edge",
            raised_at=T0 - 1,
            received_at=T0,
        )
    )
    hub_toml = config(tmp_path, url_of(sql_engine))
    r = CliRunner().invoke(
        app, ["report", "alarms", "--config", str(hub_toml), "--since", "2025-11-20"]
    )
    assert r.exit_code == 0, r.output
    assert "alarm-0001" in r.stdout and "1 alarms, 2 timeline entries" in r.output


def test_admin_counts_the_configured_stores_open_alarms(sql_engine: Engine, tmp_path: Path) -> None:
    """What `mz admin dwelling remove` refuses on (the registry's own test runs it)."""
    store = AlarmStore(sql_engine)
    for n, dwelling in enumerate(("dw-001", "dw-001", "dw-002")):
        store.insert_alarm(
            AlarmRecord(
                id=f"alarm-{n}",
                dwelling=dwelling,
                kind=AlarmKind.FALL,
                severity=Severity.HIGH,
                state=AlarmState.RAISED,
                source="edge",
                raised_at=T0,
                received_at=T0,
            )
        )
    hub_toml = config(tmp_path, url_of(sql_engine))
    assert _open_alarms(hub_toml, None, "dw-001") == 2
    assert _open_alarms(hub_toml, None, "dw-003") == 0


def test_an_empty_database_is_no_alarm_store_and_stays_empty(pg_url: str, tmp_path: Path) -> None:
    hub_toml = config(tmp_path, pg_url.replace("@", ":geheim-wachtwoord@"))
    r = CliRunner().invoke(app, ["report", "alarms", "--config", str(hub_toml)])
    assert r.exit_code == 2 and "no alarm store" in r.output, r.output
    assert "geheim-wachtwoord" not in r.output
    engine = open_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []  # nothing created
    finally:
        engine.dispose()
