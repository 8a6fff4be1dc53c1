"""`mz report monthly`: October 2025 of tests/report_seed.py, from the hub's real alarm store
and registry, as a table, JSON and CSV; one dwelling; clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts.channels.router import ChannelRouter
from alerts.service import AlarmService, AlertSettings
from hub.config import OPS_DB
from mz.cli import app
from tests import report_seed
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_fakes import SECRET, registry
from tests.ops_store import ops_engine


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    reg = registry(tmp_path / OPS_DB)
    alarms = AlarmService(
        ops_engine(tmp_path),
        ChannelRouter(None, None),
        reg,
        AlertSettings(public_url="http://testserver", secret_key=SECRET),
        FakeClock(),
    )
    try:
        await report_seed.seed(alarms)
    finally:
        alarms.close()
        alarms.store.engine.dispose()
        reg.close()
    return tmp_path


def monthly(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["report", "monthly", "--data-dir", str(data_dir), *args])


def approx(expected: Any) -> Any:
    if isinstance(expected, float):
        return pytest.approx(expected)
    if isinstance(expected, dict):
        return {k: approx(v) for k, v in expected.items()}
    return expected


def test_json_has_the_seeded_figures_per_dwelling_and_in_total(data_dir: Path) -> None:
    r = monthly(data_dir, "--month", report_seed.MONTH, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["month"] == "2025-10" and out["complete"] is True
    assert out["start_local"] == "2025-10-01T00:00:00+02:00"
    assert out["end_local"] == "2025-11-01T00:00:00+01:00"
    found = {d["dwelling"]: d["figures"] for d in out["dwellings"]} | {"total": out["total"]}
    labels = {d["dwelling"]: d["label"] for d in out["dwellings"]}
    assert labels == {
        "dw-001": "Unit 3, Tuinstraat",
        "dw-002": "Unit 7, Kerkpad",
        "dw-003": "Unit 1, Dorpsweg",
    }
    for scope, expected in report_seed.EXPECTED.items():
        got = {k: found[scope][k] for k in expected}
        assert got == approx(dict(expected)), scope


def test_the_table_reads_per_dwelling(data_dir: Path) -> None:
    r = monthly(data_dir, "--month", "2025-10")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "Month 2025-10: 2025-10-01 00:00 to 2025-11-01 00:00 Europe/Amsterdam"
    dw1 = next(line for line in lines if line.startswith("dw-001 Unit 3, Tuinstraat"))
    # 12 alarms, 11 care; p50/p90 55 s / 111 s; taken on 50 s / 132 s from 9 values (*).
    assert dw1.split()[4:6] == ["12", "11"]
    assert "55s / 1m51s " in dw1 and "50s / 2m12s*" in dw1
    assert "7 (64%)" in dw1 and "3/8 (38%)" in dw1 and dw1.endswith("26.0 h")
    total = next(line for line in lines if line.startswith("total"))
    assert "50s / 1m30s " in total and "48s / 1m51s " in total and total.endswith("29.5 h")
    dw3 = next(line for line in lines if line.startswith("dw-003"))
    assert dw3.split()[4:] == ["0", "0", "-", "-", "0", "(-)", "0/0", "(-)", "0.0", "h"]
    assert any(line.startswith("* fewer than 10 values") for line in lines)


def test_csv_to_a_file_and_one_dwelling(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "october.csv"
    r = monthly(data_dir, "--month", "2025-10", "--dwelling", "dw-002", "--csv", "-o", str(target))
    assert r.exit_code == 0, r.output
    with target.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["row"], row["dwelling"]) for row in rows] == [
        ("dwelling", "dw-002"),
        ("total", ""),
    ]
    assert rows[0]["label"] == "Unit 7, Kerkpad" and rows[0]["alarms"] == "2"
    assert rows[0]["first_response_p50_s"] == "45.0" and rows[0]["false_alarm_share"] == "1.0000"
    assert rows[0]["downtime_h"] == "3.50" and rows[1]["alarms"] == "2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2025-13"], "'2025-13' is no month: give YYYY-MM"),
        (["--month", "oktober"], "is no month"),
        (["--month", "2999-01"], "2999-01 has not begun yet"),
        (["--month", "2025-10", "--dwelling", "dw-404"], "no dwelling 'dw-404'"),
        (["--csv", "--json"], "choose --csv or --json"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_input_is_one_clear_error(data_dir: Path, args: list[str], message: str) -> None:
    r = monthly(data_dir, *args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    r = monthly(tmp_path, "--month", "2025-10")
    assert r.exit_code == 2 and "no alarm store" in r.output
