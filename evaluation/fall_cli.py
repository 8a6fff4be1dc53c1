"""`mz eval fall` and `mz train fall`: evaluate and train the wearable fall detector."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

logger = logging.getLogger(__name__)

DATASETS = Path("/work/shared/datasets")
CACHE = Path(".cache/fall")  # candidate features per recording (git ignores .cache/)
#: The shipped model's outer folds, per person (`mz train fall --compare` reads it).
OUTER_RECORD = Path(__file__).with_name("fall_outer_record.json")
BY_CHOICES = ("subject", "code", "age_group", "position")


@contextmanager
def _progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (stdout stays clean for --json)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda n: prog.advance(task, n)


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if pct:
        return f"{100.0 * float(v):.2f} %"
    return f"{float(v):.3g}"


def _print_summary(title: str, s: dict[str, Any]) -> None:
    typer.echo(f"{title}")
    typer.echo(
        f"  recordings {s['recordings']}  falls {s['falls']}  ADLs {s['adls']}"
        f"  ({s['adl_hours']:.2f} ADL h)"
    )
    typer.echo(
        f"  sensitivity {_fmt(s['sensitivity'])}  specificity {_fmt(s['specificity'])}"
        f"  accuracy {_fmt(s['accuracy'])}"
    )
    typer.echo(
        f"  false alarms {s['false_alarms']} = {_fmt(s['false_alarms_per_hour'], False)}"
        f" per ADL hour ({s['false_alarms_self_cancelled']} withdrawn by getting up)"
    )
    typer.echo(
        f"  delay after the impact: median {_fmt(s['delay_median_s'], False)} s,"
        f" p95 {_fmt(s['delay_p95_s'], False)} s"
    )
    if "us_per_sample" in s and s["us_per_sample"] is not None:
        typer.echo(
            f"  cost {s['us_per_sample']:.2f} us/sample"
            f" ({1e6 / s['us_per_sample']:,.0f} samples/s per core)"
        )
    for w in s.get("worst", []):
        typer.echo(
            f"    worst: {w['code']:<10} {w['label']:<4} {w['wrong']}/{w['of']}"
            f"  {w['activity'][:60]}"
        )
    for col, groups in s.get("by", {}).items():
        typer.echo(f"  by {col}:")
        for k, g in groups.items():
            typer.echo(
                f"    {k:<28} n={g['recordings']:<5} sens {_fmt(g['sensitivity'])}"
                f"  spec {_fmt(g['specificity'])}  FA/h {_fmt(g['false_alarms_per_hour'], False)}"
            )


def eval_fall(
    dataset: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Dataset .npz (shared format).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Break down by subject|code|age_group|position.")
    ] = None,
    resample: Annotated[
        float,
        typer.Option("--resample", help="Block-average down to this rate first (Hz); 0: off."),
    ] = 0.0,
    ble: Annotated[
        float,
        typer.Option(
            "--ble", help="Degrade like a BLE wearable at this rate (Hz): jitter, stalls; 0: off."
        ),
    ] = 0.0,
    continuous: Annotated[
        bool,
        typer.Option(
            "--continuous",
            help="Continuous wear: stream each wearer's own walk (D01 / Walking) first.",
        ),
    ] = False,
    position: Annotated[
        str | None,
        typer.Option(
            "--position",
            help="Only recordings worn here (WAIST, CHEST, ...); 'all': every position."
            " Default: every position the wearable is made for (wrist left out).",
        ),
    ] = None,
    soft: Annotated[
        float,
        typer.Option(
            "--soften",
            help="Stress test: scale falls' deviation from 1 g by this (0.5: half); 1: off.",
        ),
    ] = 1.0,
    slow: Annotated[
        float, typer.Option("--slow", help="Stress test: slow the falls down by this factor.")
    ] = 1.0,
    params_file: Annotated[
        Path | None, typer.Option("--params", help="Params JSON (default: the shipped one).")
    ] = None,
    nested: Annotated[
        bool,
        typer.Option(
            "--nested",
            help="Run the nested leave-one-person-out protocol on this dataset (and --also)"
            " and print its outer figures, instead of scoring the shipped params.",
        ),
    ] = False,
    also: Annotated[
        list[Path] | None, typer.Option("--also", help="With --nested: another dataset .npz.")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="With --nested: a few people.")] = False,
    cache: Annotated[
        Path, typer.Option("--cache", help="With --nested: where candidates are cached.")
    ] = CACHE,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline",
            help="Run the peak-plus-stillness reference rule through the nested protocol on"
            " this dataset (and --also), print its outer figures and the paired change from"
            " it to the model's outer record.",
        ),
    ] = False,
    record: Annotated[
        Path,
        typer.Option(
            "--record", exists=True, dir_okay=False, help="With --baseline: the model's record."
        ),
    ] = OUTER_RECORD,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = True,
) -> None:
    """Stream every recording through the edge's fall detector and score it."""
    if nested and baseline:
        raise typer.BadParameter("--nested and --baseline are two runs: give one")
    if nested:
        _eval_nested([dataset, *(also or [])], quick, as_json, progress, cache)
        return
    if baseline:
        _eval_baseline([dataset, *(also or [])], quick, as_json, progress, record)
        return
    import numpy as np

    from edge.detectors.fall import load_params
    from evaluation.fall_eval import (
        Recording,
        ble_link,
        downsample,
        load_dataset,
        run_recordings,
        soften,
        summarize,
        supported,
        warmups,
    )

    if by is not None and by not in BY_CHOICES:
        raise typer.BadParameter(f"--by must be one of {', '.join(BY_CHOICES)}")
    params = load_params(None if params_file is None else str(params_file))
    recs = load_dataset(dataset)
    left_out: dict[str, int] = {}
    if position is None:
        for r in recs:
            if not supported(r):
                left_out[r.position.upper()] = left_out.get(r.position.upper(), 0) + 1
        recs = [r for r in recs if supported(r)]
    elif position.lower() != "all":
        recs = [r for r in recs if r.position.upper() == position.upper()]
    walks = warmups(recs) if continuous else {}
    if soft != 1.0 or slow != 1.0:
        recs = [soften(r, soft, slow) for r in recs]  # falls only; ADLs unchanged
    rate = ble if ble > 0 else resample
    if resample > 0:
        rng = np.random.default_rng(12345)
        recs = [downsample(r, resample, rng) for r in recs]
    if ble > 0:
        rng = np.random.default_rng(12346)
        recs = [ble_link(r, ble, rng) if r.fs > 1.5 * ble else r for r in recs]

    def walk(r: Recording) -> Recording | None:
        w = walks.get((r.subject, r.position.upper()))
        if w is not None and rate > 0 and w.fs > 1.5 * rate:
            w = ble_link(w, rate, np.random.default_rng(1)) if ble > 0 else downsample(w, rate)
        return w

    with _progress(len(recs), "eval fall", progress) as tick:
        res = run_recordings(recs, params, tick, walk if continuous else None)
    summary = summarize(recs, res, by)
    summary["dataset"] = str(dataset)
    summary["left_out"] = left_out
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_summary(f"fall detector on {dataset.name}", summary)
        if params_file is None and dataset.name in _trained_on():
            typer.echo(
                "  in-sample: the shipped model was trained on this dataset, so this is not"
                " a figure for new people; --nested gives the outer figure"
            )
        for pos, n in sorted(left_out.items()):
            typer.echo(
                f"  left out: {n} {pos} recordings (not where the wearable is worn;"
                " --position all scores them)"
            )


def _trained_on() -> list[str]:
    """Dataset file names the shipped params were trained on."""
    from importlib import resources

    from edge.detectors.fall import PARAMS_FILE

    text = resources.files("edge.detectors").joinpath(PARAMS_FILE).read_text("utf-8")
    names = json.loads(text).get("datasets", [])
    return [str(n) for n in names]


def _eval_nested(
    paths: list[Path], quick: bool, as_json: bool, progress: bool, cache: Path
) -> None:
    from edge.detectors.fall import FallParams
    from evaluation.fall_eval import load_dataset
    from evaluation.fall_outer import format_table, run

    recs = [r for p in paths for r in load_dataset(p)]
    n_people = len({r.subject for r in recs})
    with _progress(n_people, "nested CV (outer folds)", progress) as tick:
        _, result = run(recs, FallParams(), quick=quick, cache_dir=cache, progress=tick)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for line in format_table(result["outer"]):
        typer.echo(line)


def _eval_baseline(
    paths: list[Path], quick: bool, as_json: bool, progress: bool, record: Path
) -> None:
    from edge.detectors.fall import FallParams
    from evaluation.fall_baseline import nested_cv
    from evaluation.fall_eval import load_dataset
    from evaluation.fall_outer import (
        QUICK_SUBJECTS,
        counts_to_json,
        format_compare,
        format_table,
        outer_from_json,
        summarize,
    )

    recs = [r for p in paths for r in load_dataset(p)]
    people = sorted({r.subject for r in recs})
    if quick:
        people = [p for p in people if p in QUICK_SUBJECTS]
    with _progress(len(people), "reference rule, outer folds", progress) as tick:
        outer = nested_cv(recs, FallParams(), test_subjects=people, progress=tick)
    model = outer_from_json(json.loads(record.read_text("utf-8")).get("training", {}))
    if as_json:
        doc = {
            "outer": summarize(outer),
            "outer_choices": outer.choices,
            "outer_counts": counts_to_json(outer),
        }
        typer.echo(json.dumps(doc))
        return
    typer.echo("reference rule: peak plus stillness (docs/falls.md, 'Reference')")
    for line in format_table(summarize(outer)):
        typer.echo(line)
    for cls in ("fast", "slow"):
        picks = sorted({(c[f"peak_g_{cls}"], c[f"still_g_{cls}"]) for c in outer.choices.values()})
        shown = ", ".join(f"{p:g} g / {s:g} g" for p, s in picks)
        typer.echo(f"  chosen {cls} (peak / stillness) over the folds: {shown}")
    for line in format_compare(outer, model, f"the model ({record.name}) against the rule"):
        typer.echo(line)


def train_fall(
    sisfall: Annotated[Path, typer.Option("--sisfall", help="SisFall dev .npz.")] = DATASETS
    / "sisfall-dev.npz",
    umafall: Annotated[
        Path | None, typer.Option("--umafall", help="UMAFall dev .npz (used if present).")
    ] = DATASETS / "umafall-dev.npz",
    out: Annotated[
        Path | None, typer.Option("--out", help="Params JSON to write (default: the package's).")
    ] = None,
    cv: Annotated[
        bool,
        typer.Option("--cv/--no-cv", help="Also run the nested leave-one-person-out protocol."),
    ] = True,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A few people only (smoke test; writes only with --out)."),
    ] = False,
    stress: Annotated[
        bool, typer.Option("--stress", help="Also run the soft-fall stress test (slow).")
    ] = False,
    cache: Annotated[Path, typer.Option("--cache", help="Where candidates are cached.")] = CACHE,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="An earlier params JSON: print the paired change."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = True,
) -> None:
    """Train the fall model on the dev data; every choice by inner CV; print the outer figure."""
    from edge.detectors import fall as fall_mod
    from edge.detectors.fall import FallParams
    from evaluation.fall_eval import load_dataset
    from evaluation.fall_outer import format_table, run

    paths = [sisfall] + ([umafall] if umafall is not None and umafall.exists() else [])
    recs = [r for p in paths for r in load_dataset(p)]
    n_people = len({r.subject for r in recs})
    with _progress(n_people, "nested CV (outer folds)", progress and cv) as tick:
        params, result = run(recs, FallParams(), cv=cv, quick=quick, cache_dir=cache, progress=tick)
    doc: dict[str, Any] = {
        "about": "Fall detector params: trained by `mz train fall` (see docs/falls.md).",
        "datasets": [p.name for p in paths],
        "training": result,
        "params": params.to_json(),
    }
    if stress:
        from evaluation.fall_train import stress_cv, training_data

        data = training_data(recs, FallParams())
        n_falls = sum(r.label == 1 and r.source == "SisFall" for r in recs)
        with _progress(n_falls * 8, "soft-fall stress test", progress) as tick:
            doc["stress_soft_falls_leave_one_subject_out"] = stress_cv(
                FallParams(), recs, data, tick
            )
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"choice (inner CV over all people): {json.dumps(result['choice'])}")
        if "outer" in result:
            for line in format_table(result["outer"]):
                typer.echo(line)
    if compare is not None and "outer_counts" in result:
        from evaluation.fall_outer import format_compare, outer_from_json

        before = json.loads(compare.read_text("utf-8")).get("training", {})
        for line in format_compare(outer_from_json(before), outer_from_json(result)):
            typer.echo(line)
    if quick and out is None:
        typer.echo("--quick: params not written (give --out to write them)")
        return
    target = out or Path(fall_mod.__file__).parent.with_name(fall_mod.PARAMS_FILE)
    if out is None and "outer_counts" in result:
        # The edge ships the params file: the per-person record of the outer folds (what
        # a later trial is compared with) goes next to the evaluation code instead.
        OUTER_RECORD.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
        training = {k: v for k, v in result.items() if k not in ("outer_counts",)}
        doc = {**doc, "training": {**training, "outer_record": OUTER_RECORD.name}}
    target.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
    if not as_json:
        typer.echo(f"wrote {target}")


def register(eval_app: typer.Typer, train_app: typer.Typer) -> None:
    """Add this module's commands to `mz eval` and `mz train`."""
    eval_app.command("fall")(eval_fall)
    train_app.command("fall")(train_fall)
