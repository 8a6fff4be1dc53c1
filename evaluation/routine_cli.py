"""`mz eval routine` and `mz eval news2`: early-warning evaluation commands.

Heavy imports happen inside the commands so that `mz` starts fast on a Pi.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

logger = logging.getLogger(__name__)


def register(eval_app: typer.Typer, train_app: typer.Typer) -> None:
    """Add this module's commands to `mz eval` and `mz train`."""
    eval_app.command("routine")(eval_routine)
    eval_app.command("news2")(eval_news2)


def eval_routine(
    path: Annotated[Path, typer.Argument(help="A folder of homes, or one <id>.events.csv[.gz].")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    learn_days: Annotated[
        float, typer.Option("--learn-days", help="Days learned before the replay.")
    ] = 7.0,
    collapses: Annotated[
        int, typer.Option("--collapses", help="Daytime collapses injected per home.")
    ] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the injected incidents.")] = (
        20260101
    ),
    tz: Annotated[
        str | None, typer.Option("--tz", help="Time zone (default: from the meta file).")
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds", help="Also inject the collapses with this many further seeds (spread)."
        ),
    ] = 10,
    loho: Annotated[
        bool,
        typer.Option(
            "--loho",
            help="Leave one home out: tune the quiet-gap and night-rule settings on each home, "
            "report it on the others (a folder of >= 2 homes; slow).",
        ),
    ] = False,
) -> None:
    """Replay recorded homes through the routine detector: false alarms, detections."""
    from rich.console import Console
    from rich.progress import Progress

    from evaluation.routine_eval import (
        DatasetError,
        EvalOptions,
        evaluate_home,
        find_homes,
        leave_one_home_out,
        load_home,
        pooled,
    )

    err = Console(stderr=True)
    opts = EvalOptions(
        learn_days=learn_days, collapses=collapses, seed=seed, spread_seeds=max(seeds, 0)
    )
    try:
        files = find_homes(path)
        if loho and len(files) < 2:
            raise DatasetError("--loho needs a folder with at least two homes")
        results = []
        homes = []
        with Progress(console=err, transient=True) as progress:
            for f in files:
                task = progress.add_task(f"{f.name}: load", total=None)
                home = load_home(f, tz)
                homes.append(home)
                results.append(evaluate_home(home, opts, _reporter(progress, task, home.id)))
                progress.remove_task(task)
            summary = pooled(results)
            if loho:
                task = progress.add_task("leave one home out", total=None)
                summary["leave_one_home_out"] = leave_one_home_out(
                    homes, opts, progress=_reporter(progress, task, "all")
                )
                progress.remove_task(task)
    except DatasetError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    out = typer.echo
    for h in summary["homes"]:
        out(f"{h['home']}: {h['days']} days replayed after {h['learned_days']} learned days")
        lo, hi = h["false_alarms_per_week_ci95"]
        out(
            f"  false inactivity alarms/week {h['false_alarms_per_week']} "
            f"(95 % CI {lo}-{hi}; {h['false_alarms_by_rule']}); "
            f"technical {h['technical_findings']}"
        )
        c = h["collapses"]
        ci = c["rate_ci95"] or [None, None]
        out(
            f"  daytime collapses: {c['detected']}/{c['n']} detected within 3 h "
            f"(rate {h['detection_rate']}, 95 % CI {ci[0]}-{ci[1]}, on {len(c['by_day'])} "
            f"days), median delay {h['median_delay_min']} min"
        )
        spread = h["collapse_seed_spread"]
        if spread:
            out(
                f"  over {len(spread['seeds'])} further seeds: rate {spread['min']}-"
                f"{spread['max']} (mean {spread['mean']})"
            )
        for name, r in h["night_rules"].items():
            out(
                f"  {name}: {r['detected']}/{r['n']} (rate {r['rate']}), "
                f"median delay {r['median_delay_min']} min, by {r['detected_by']}"
            )
            seen = h.get("out_of_bed_return_sensed")
            if name == "out_of_bed_night" and seen:
                out(
                    f"    where a return would have been seen: {seen['detected']}/{seen['n']}"
                    f", by {seen['detected_by']}"
                )
    for c in summary.get("leave_one_home_out", {}).get("choices", []):
        out(f"tuned on {c['tuned_on']}: {c['setting']!r} ({c['tuned']}); held out: {c['held_out']}")
    out(
        f"all: {summary['false_alarms_per_week']} false alarms/week, "
        f"detection rate {summary['detection_rate']}, median delay "
        f"{summary['median_delay_min']} min over {summary['days']} days"
    )


def _reporter(progress: Progress, task: TaskID, home: str) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        progress.update(task, description=f"{home}: {stage}", completed=done, total=total)

    return report


def eval_news2(
    cases: Annotated[Path, typer.Argument(help="CSV with rr,spo2,scale,o2,sbp,hr,acvpu,temp")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per row.")
    ] = False,
) -> None:
    """Score each row of a CSV with NEWS2 (RCP 2017); bad rows get a per-row error."""
    from evaluation.news2_eval import format_table, score_csv

    try:
        text = cases.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {cases}: {exc}", err=True)
        raise typer.Exit(2) from exc
    results = score_csv(text)
    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    else:
        typer.echo(format_table(results))
    if any(r.error for r in results):
        typer.echo(f"{sum(1 for r in results if r.error)} row(s) with errors", err=True)
