"""`mz eval news2 CASES.csv`: per-row scores in input order, per-row errors."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from evaluation.news2_eval import score_csv
from evaluation.routine_cli import register

CASES = """rr,spo2,scale,o2,sbp,hr,acvpu,temp
18,95,1,no,120,80,A,37.2
,,,,,,,
,97,2,yes,100,120,C,39.5
12,abc,1,no,,,,
,94,3,,,,,
,96,2,,130,70,,36.5
,nan,1,no,,,,
8,91,1,yes,90,131,U,35.0
"""


def app() -> typer.Typer:
    eval_app, train_app = typer.Typer(), typer.Typer()
    register(eval_app, train_app)
    return eval_app


def test_rows_scored_in_input_order_with_errors_per_row() -> None:
    rows = [r.to_json() for r in score_csv(CASES)]
    assert [r["row"] for r in rows] == list(range(1, 9))
    assert rows[0] == {
        "row": 1,
        "score": 1,
        "band": "low",
        "red_flag": False,
        "partial": False,
        "missing": [],
        "subscores": {"rr": 0, "spo2": 1, "o2": 0, "sbp": 0, "hr": 0, "acvpu": 0, "temp": 0},
        "invalid": [],
    }
    assert rows[1]["partial"] and rows[1]["missing"] == [
        "rr", "spo2", "o2", "sbp", "hr", "acvpu", "temp"
    ]  # fmt: skip
    # scale 2 on oxygen at 97 %: 3; oxygen 2; sbp 100: 2; hr 120: 2; C: 3; 39.5: 2
    assert (rows[2]["score"], rows[2]["band"], rows[2]["missing"]) == (14, "high", ["rr"])
    assert rows[3] == {"row": 4, "error": "spo2: not a number: 'abc'"}
    assert rows[4]["error"] == "scale: must be 1 or 2, got '3'"
    # scale 2, 96 %, air or oxygen unknown: SpO2 cannot be scored
    assert "spo2" in rows[5]["missing"] and "o2" in rows[5]["missing"]
    assert rows[5]["invalid"][0]["reason"] == "o2_unknown_on_scale_2"
    assert rows[6]["invalid"][0]["reason"] == "nan"
    assert (rows[7]["score"], rows[7]["band"], rows[7]["red_flag"]) == (20, "high", True)


def test_too_many_cells_and_bad_values_do_not_crash() -> None:
    text = "rr,spo2,scale,o2,sbp,hr,acvpu,temp\n1,2,3,4,5,6,7,8,9\n,,1,maybe,,,,\n,,1,,,,X,\n"
    rows = [r.to_json() for r in score_csv(text)]
    assert [r.get("error") for r in rows] == [
        "too many cells",
        "o2: must be yes or no, got 'maybe'",
        "acvpu: must be one of A C V P U, got 'X'",
    ]


def test_cli_json_and_table(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(CASES)
    runner = CliRunner()
    result = runner.invoke(app(), ["news2", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == 8
    assert {"score", "band", "partial", "missing"} <= data[0].keys()
    table = runner.invoke(app(), ["news2", str(path)])
    assert table.exit_code == 0
    assert "ERROR spo2: not a number" in table.stdout
    missing = runner.invoke(app(), ["news2", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2
