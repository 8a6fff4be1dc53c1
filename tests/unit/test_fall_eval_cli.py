"""`mz eval fall` end to end on a tiny dataset written in the shared .npz format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from mz.cli import app
from tests.unit.test_fall_detector import synth

KEYS = {
    "sensitivity",
    "specificity",
    "accuracy",
    "false_alarms_per_hour",
    "recordings",
    "falls",
    "adls",
    "us_per_sample",
}


def write_dataset(path: Path, *, with_t_ms: bool, positions: tuple[str, ...] = ()) -> None:
    """Two falls and two ADLs (walking), two subjects, in the documented format; worn at
    the waist unless `positions` says otherwise (one per recording)."""
    recs = []
    for i, (fall, subj) in enumerate([(True, "S1"), (False, "S1"), (True, "S2"), (False, "S2")]):
        fs = 50.0 if with_t_ms else 100.0
        t, a = synth(fs, fall_at=7.0 if fall else None, duration=15.0, seed=i, jitter=0.3)
        recs.append((t, a.astype(np.float32), fs, int(fall), subj))
    off = np.cumsum([0] + [r[0].size for r in recs])
    n = len(recs)
    cols = {
        "accel": np.concatenate([r[1] for r in recs]),
        "offsets": off.astype(np.int64),
        "fs": np.array([r[2] for r in recs]),
        "label": np.array([r[3] for r in recs], dtype=np.int8),
        "code": np.array(["F01" if r[3] else "D01" for r in recs]),
        "activity": np.array(["synthetic fall" if r[3] else "synthetic walk" for r in recs]),
        "subject": np.array([r[4] for r in recs]),
        "age": np.full(n, 70, dtype=np.int16),
        "sex": np.array(["F"] * n),
        "age_group": np.array(["elderly"] * n),
        "trial": np.ones(n, dtype=np.int16),
        "position": np.array(list(positions) or ["WAIST"] * n),
        "sensor": np.array(["synthetic"] * n),
        "source": np.array(["test"] * n),
        "filename": np.array([f"rec{i}" for i in range(n)]),
        "meta": np.array(json.dumps({"format": 1})),
    }
    if with_t_ms:
        cols["t_ms"] = np.concatenate([(r[0] - r[0][0]) * 1000.0 for r in recs]).astype(np.float32)
    np.savez_compressed(path, **cols)  # type: ignore[arg-type]


def run(*args: str) -> dict[str, object]:
    res = CliRunner().invoke(app, ["eval", "fall", *args])
    assert res.exit_code == 0, res.output
    out: dict[str, object] = json.loads(res.stdout)
    return out


def test_eval_json(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    out = run(str(path), "--json", "--no-progress")
    assert out.keys() >= KEYS
    assert out["recordings"] == 4 and out["falls"] == 2 and out["adls"] == 2
    assert out["sensitivity"] == 1.0
    assert out["specificity"] == 1.0
    assert out["accuracy"] == 1.0
    assert out["false_alarms_per_hour"] == 0.0
    assert isinstance(out["us_per_sample"], float) and out["us_per_sample"] > 0
    delay = out["delay_median_s"]
    assert isinstance(delay, float) and 4.0 < delay < 7.0


def test_eval_uses_t_ms_and_breaks_down(tmp_path: Path) -> None:
    path = tmp_path / "tiny_tms.npz"
    write_dataset(path, with_t_ms=True)
    out = run(str(path), "--json", "--by", "subject", "--no-progress")
    by = out["by"]
    assert isinstance(by, dict)
    assert set(by["subject"]) == {"S1", "S2"}
    assert by["subject"]["S1"]["falls"] == 1
    assert out["sensitivity"] == 1.0


def test_eval_text_and_resample(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    res = CliRunner().invoke(app, ["eval", "fall", str(path), "--resample", "20"])
    assert res.exit_code == 0, res.output
    assert "sensitivity" in res.stdout
    assert "us/sample" in res.stdout


def test_eval_rejects_bad_by(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    res = CliRunner().invoke(app, ["eval", "fall", str(path), "--by", "colour"])
    assert res.exit_code != 0


def test_eval_ble_link_and_continuous_wear(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)  # 100 Hz; the ADLs are walks (D01): warm-ups
    out = run(str(path), "--json", "--no-progress", "--ble", "20", "--continuous")
    assert out["recordings"] == 4
    assert out["sensitivity"] == 1.0 and out["specificity"] == 1.0


def test_eval_soft_fall_stress_test(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    out = run(str(path), "--json", "--no-progress", "--soften", "0.7", "--slow", "1.5")
    assert out["falls"] == 2 and out["adls"] == 2
    assert out["specificity"] == 1.0  # ADLs are left as they were


def test_eval_leaves_out_the_wrist_unless_asked(tmp_path: Path) -> None:
    """The wearable is made for the waist and chest: a wrist recording is not scored by
    default (and said so), `--position all` scores everything."""
    path = tmp_path / "mixed.npz"
    write_dataset(path, with_t_ms=True, positions=("WAIST", "WAIST", "CHEST", "WRIST"))
    out = run(str(path), "--json", "--no-progress", "--by", "position")
    assert out["recordings"] == 3 and out["adls"] == 1
    assert out["left_out"] == {"WRIST": 1}
    by = out["by"]
    assert isinstance(by, dict) and set(by["position"]) == {"WAIST", "CHEST"}
    everything = run(str(path), "--json", "--no-progress", "--position", "all")
    assert everything["recordings"] == 4 and everything["left_out"] == {}
    wrist = run(str(path), "--json", "--no-progress", "--position", "wrist")
    assert wrist["recordings"] == 1 and wrist["falls"] == 0
    res = CliRunner().invoke(app, ["eval", "fall", str(path), "--no-progress"])
    assert res.exit_code == 0 and "left out: 1 WRIST recordings" in res.stdout


def test_eval_nested_prints_the_outer_figure_with_intervals(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    cache = tmp_path / "cache"
    args = [str(path), "--nested", "--json", "--no-progress", "--cache", str(cache)]
    out = run(*args)
    s = out["outer"]
    assert isinstance(s, dict)
    row = s["test waist"]
    assert row["people"] == 2 and row["falls"] == 2 and row["adls"] == 2
    lo, hi = row["sensitivity_ci95"]
    assert lo <= row["sensitivity"] <= hi
    assert set(row["sensitivity_per_person"]) == {"min", "median", "max"}
    choices = out["outer_choices"]
    assert isinstance(choices, dict) and sorted(choices) == ["S1", "S2"]  # a fold per person
    assert any(cache.glob("cand-raw-*.npz"))  # candidates cached where asked
    res = CliRunner().invoke(
        app, ["eval", "fall", *args[:2], "--no-progress", "--cache", str(cache)]
    )
    assert res.exit_code == 0, res.output
    assert "outer figures" in res.output and "test waist" in res.output


def test_eval_baseline_runs_the_reference_rule_and_compares_with_a_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tiny.npz"
    write_dataset(path, with_t_ms=False)
    cache = tmp_path / "cache"
    # A model record to compare with: the nested protocol's own output on the same data.
    nested = run(str(path), "--nested", "--json", "--no-progress", "--cache", str(cache))
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"training": nested}), "utf-8")
    out = run(str(path), "--baseline", "--json", "--no-progress", "--record", str(record))
    row = out["outer"]["test waist"]  # type: ignore[index]
    assert row["people"] == 2 and row["falls"] == 2 and row["adls"] == 2
    choices = out["outer_choices"]
    assert isinstance(choices, dict) and sorted(choices) == ["S1", "S2"]
    assert {"peak_g_fast", "still_g_fast", "peak_g_slow", "still_g_slow"} <= set(choices["S1"])
    res = CliRunner().invoke(
        app, ["eval", "fall", str(path), "--baseline", "--no-progress", "--record", str(record)]
    )
    assert res.exit_code == 0, res.output
    assert "reference rule" in res.output and "against the rule" in res.output
    both = CliRunner().invoke(app, ["eval", "fall", str(path), "--baseline", "--nested"])
    assert both.exit_code != 0 and "give one" in both.output
