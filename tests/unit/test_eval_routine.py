"""`mz eval routine`: replay, injected incidents, JSON keys; and on the real homes."""

from __future__ import annotations

import csv
import gzip
import json
import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from edge.evaluation.routine_cli import register
from edge.evaluation.routine_eval import (
    DatasetError,
    EvalOptions,
    evaluate_home,
    find_homes,
    load_home,
    pooled,
)
from simulators.residents import routine

TZ = "Europe/Amsterdam"
HOMES = Path("/work/shared/datasets/homes")
KEYS = {
    "false_alarms_per_week",
    "detection_rate",
    "median_delay_min",
    "days",
    "not_up_rate",
    "out_of_bed_rate",
    "night_door_rate",
}


def write_home(folder: Path, home_id: str = "sim_a", days: int = 9) -> Path:
    """A simulated home in the homes-dataset format (events, meta)."""
    events = routine.generate(date(2026, 1, 5), days, seed=3, tz=TZ)
    zone = ZoneInfo(TZ)
    path = folder / f"{home_id}.events.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp_iso", "sensor_id", "sensor_kind", "room", "value"])
        for e in events:
            stamp = datetime.fromtimestamp(round(e.t), zone).replace(tzinfo=None)
            w.writerow([stamp.isoformat(), e.sensor, e.kind.value, e.room, e.value])
    meta = {"timezone": f"local wall-clock time, {TZ}"}
    (folder / f"{home_id}.meta.json").write_text(json.dumps(meta))
    return path


def app() -> typer.Typer:
    eval_app, train_app = typer.Typer(), typer.Typer()
    register(eval_app, train_app)
    return eval_app


def test_evaluate_a_simulated_home(tmp_path: Path) -> None:
    home = load_home(write_home(tmp_path))
    assert home.tz == TZ
    r = evaluate_home(home, EvalOptions(collapses=50))
    assert r.collapse.n == 50
    assert 1.0 < r.days < 2.5  # 9 days less 7 learned; the first night starts the day before
    out = r.to_json()
    assert out.keys() >= KEYS
    assert out["detection_rate"] >= 0.8  # a regular simulated resident: easy
    assert out["night_rules"]["night_door"]["n"] == 0  # no night-time door in the routine


def test_results_are_reproducible_with_the_seed(tmp_path: Path) -> None:
    home = load_home(write_home(tmp_path))
    a = evaluate_home(home, EvalOptions(collapses=50, seed=5)).to_json()
    b = evaluate_home(home, EvalOptions(collapses=50, seed=5)).to_json()
    assert a == b


def test_cli_json_for_a_folder(tmp_path: Path) -> None:
    write_home(tmp_path, "sim_a")
    write_home(tmp_path, "sim_b")
    result = CliRunner().invoke(app(), ["routine", str(tmp_path), "--json", "--collapses", "50"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data.keys() >= KEYS
    assert [h["home"] for h in data["homes"]] == ["sim_a", "sim_b"]
    assert data["collapses"] == 100


def test_cli_reports_a_bad_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["routine", str(tmp_path / "nope")])
    assert result.exit_code == 2
    with pytest.raises(DatasetError):
        find_homes(tmp_path)  # an empty folder


def test_too_short_a_recording_is_an_error(tmp_path: Path) -> None:
    home = load_home(write_home(tmp_path, days=5))
    with pytest.raises(DatasetError, match="learning days"):
        evaluate_home(home, EvalOptions())


def real_homes() -> Path:
    if not (HOMES / "kasteren_a.events.csv.gz").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"dataset missing under CI: {HOMES}")
        pytest.skip(f"real homes dataset not found at {HOMES}")
    return HOMES


def test_real_home_kasteren_a() -> None:
    """Regression guard on a real recording (numbers in docs/early-warning.md)."""
    home = load_home(real_homes() / "kasteren_a.events.csv.gz")
    r = evaluate_home(home, EvalOptions(collapses=50))
    summary = pooled([r])
    assert summary.keys() >= KEYS
    assert r.days > 20
    assert r.collapse.n == 50
    assert summary["false_alarms_per_week"] <= 2.0
    assert summary["detection_rate"] >= 0.8
    assert not r.out_of_bed_rule_enabled  # no bed mat, no bedroom PIR: cannot see returns
