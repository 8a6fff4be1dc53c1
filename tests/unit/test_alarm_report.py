"""`mz report alarms`: every alarm's timeline as CSV for the care organisation, from the
hub's real alarm store; the period, local times, and cells that are no formula."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from alerts import lifecycle, report
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome, Severity
from alerts.store import AlarmStore
from hub.report_cli import parse_since
from mz.cli import app
from tests.ops_store import ops_engine

AMS = ZoneInfo("Europe/Amsterdam")
T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC, 17:00 in Amsterdam


def alarm(alarm_id: str, received_at: float) -> AlarmRecord:
    return AlarmRecord(
        id=alarm_id,
        dwelling="dw-001",
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=received_at - 0.5,
        received_at=received_at,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = AlarmStore(ops_engine(tmp_path))
    try:
        store.insert_alarm(alarm("old-alarm-1", T0 - 10 * 86400))
        store.insert_alarm(alarm("new-alarm-1", T0))
        store.log_event("new-alarm-1", T0 + 1, "notified", "email:c-anna", "mailto:a***@x.org")
        store.update(
            "new-alarm-1",
            lambda r: lifecycle.take_on(r, "Anna de Vries (mantelzorger)", "c-anna", "", T0 + 9),
            at=T0 + 9,
            by="Anna de Vries (mantelzorger)",
            note='=HYPERLINK("http://evil")\nline two',
        )
        store.update(
            "new-alarm-1",
            lambda r: lifecycle.close(r, "op", Outcome.FALSE_ALARM, "", T0 + 30, operator=True),
            at=T0 + 30,
            by="op",
        )
    finally:
        store.engine.dispose()
    return tmp_path


def test_rows_are_the_period_s_timelines_in_local_time(data_dir: Path) -> None:
    store = AlarmStore(ops_engine(data_dir))
    try:
        rows = list(report.rows(store, since=T0 - 86400, until=None, tz=AMS))
    finally:
        store.engine.dispose()
    assert {r["alarm_id"] for r in rows} == {"new-alarm-1"}  # the old one is outside
    assert [r["what"] for r in rows] == [
        "raised_at_source",
        "received",
        "notified",
        "on_my_way",
        "resolved",
    ]
    assert rows[0]["at"] == "2025-11-24T16:59:59+01:00" and rows[1]["at"].startswith(
        "2025-11-24T17:00:00"
    )
    assert (
        rows[3]["by"] == "Anna de Vries (mantelzorger)" and rows[3]["seconds_after_raise"] == "9.5"
    )
    assert all(r["outcome"] == "false_alarm" for r in rows)


def test_the_csv_has_one_line_per_entry_and_no_formula(data_dir: Path) -> None:
    store = AlarmStore(ops_engine(data_dir))
    try:
        out = io.StringIO()
        n = report.write_csv(out, report.rows(store, since=0.0, until=None, tz=AMS))
    finally:
        store.engine.dispose()
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == len(parsed) == 7
    note = next(r["note"] for r in parsed if r["what"] == "on_my_way")
    assert note.startswith("'=HYPERLINK") and "\n" not in note and note.endswith("line two")


def test_mz_report_alarms_writes_the_file(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "alarms.csv"
    r = CliRunner().invoke(
        app,
        [
            "report",
            "alarms",
            "--data-dir",
            str(data_dir),
            "--since",
            "2025-11-20",
            "--until",
            "2025-11-25",
            "--csv",
            "-o",
            str(target),
        ],
    )
    assert r.exit_code == 0, r.output
    with target.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["alarm_id"] for row in rows} == {"new-alarm-1"}
    assert "1 alarms, 5 timeline entries" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "no moment"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_mz_report_bad_input_is_one_clear_error(
    data_dir: Path, args: list[str], message: str
) -> None:
    r = CliRunner().invoke(app, ["report", "alarms", "--data-dir", str(data_dir), *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["report", "alarms", "--data-dir", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no alarm store" in r.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", T0 - 1800),
        ("7d", T0 - 7 * 86400),
        ("2w", T0 - 14 * 86400),
        ("2025-11-24", T0 - 17 * 3600),  # local midnight
        ("2025-11-24T17:00", T0),
    ],
)
def test_parse_since(text: str, expected: float) -> None:
    assert parse_since(text, T0, AMS) == pytest.approx(expected)
