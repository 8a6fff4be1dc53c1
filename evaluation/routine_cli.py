"""`mz eval routine` and `mz eval news2`: early-warning evaluation commands.

Heavy imports happen inside the commands so that `mz` starts fast on a Pi.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    protocol: Annotated[
        bool,
        typer.Option(
            "--protocol/--no-protocol",
            help="Leave one home out, every choice made on the other homes; the outer "
            "figure is the one to report (default for a folder of >= 2 homes).",
        ),
    ] = True,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Fewer collapses, a two-setting grid: a smoke test."),
    ] = False,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Cache replays here (default .cache/routine-eval)."),
    ] = Path(".cache/routine-eval"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Replay everything.")] = False,
    kit: Annotated[
        str,
        typer.Option(
            "--kit", help="Replay with a changed sensor kit: no_kitchen, chatter (a lone PIR)."
        ),
    ] = "",
    reference: Annotated[
        bool,
        typer.Option(
            "--reference",
            help="Also run the reference (a fixed daytime inactivity timer, nothing learned,"
            " the timer chosen on the other homes) and the paired change from it to the"
            " detector.",
        ),
    ] = False,
) -> None:
    """Replay recorded homes through the routine detector: false alarms, detections."""
    from rich.console import Console
    from rich.progress import Progress

    from evaluation.routine_eval import (
        LOHO_GRID,
        DatasetError,
        EvalOptions,
        evaluate_home,
        find_homes,
        load_home,
        pooled,
    )
    from evaluation.routine_protocol import (
        QUICK_GRID,
        REFERENCE_GRID,
        cached,
        compare,
        nested_loho,
    )

    err = Console(stderr=True)
    if quick:
        collapses, seeds = min(collapses, 20), 0
    opts = EvalOptions(
        learn_days=learn_days,
        collapses=collapses,
        seed=seed,
        spread_seeds=max(seeds, 0),
        kit=kit,
    )
    try:
        files = find_homes(path)
        results = []
        homes = []
        by_id = {}
        with Progress(console=err, transient=True) as progress:
            for f in files:
                task = progress.add_task(f"{f.name}: load", total=None)
                home = load_home(f, tz)
                homes.append(home)
                by_id[home.id] = f
                if not protocol or len(files) < 2:
                    results.append(evaluate_home(home, opts, _reporter(progress, task, home.id)))
                progress.remove_task(task)
            if protocol and len(files) >= 2:
                evaluate = evaluate_home if no_cache or cache is None else cached(cache, by_id)
                task = progress.add_task("leave one home out", total=None)
                outer = nested_loho(
                    homes,
                    opts,
                    QUICK_GRID if quick else LOHO_GRID,
                    evaluate,
                    progress=_reporter(progress, task, "all"),
                )
                progress.remove_task(task)
                summary = outer.summary()
                if reference:
                    task = progress.add_task("reference: leave one home out", total=None)
                    ref = nested_loho(
                        homes,
                        opts,
                        REFERENCE_GRID,
                        evaluate,
                        progress=_reporter(progress, task, "reference"),
                    )
                    progress.remove_task(task)
                    summary["reference"] = ref.summary()
                    summary["reference_to_detector"] = compare(ref, outer)
            else:
                if reference:
                    err.print("[red]error:[/red] --reference needs the protocol (>= 2 homes)")
                    raise typer.Exit(2)
                summary = pooled(results)
    except DatasetError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    if "folds" in summary:
        _print_outer(summary)
        if "reference" in summary:
            typer.echo("")
            typer.echo("reference: a fixed daytime inactivity timer, nothing learned")
            _print_outer(summary["reference"])
            c = summary["reference_to_detector"]
            lo, hi = c["collapse_rate_change_ci95"]
            fa_ref, fa_det = c["false_alarms"]
            typer.echo(
                f"the detector against the reference: collapses found"
                f" {c['collapse_rate_change']:+} ({lo:+}-{hi:+}, paired over"
                f" {c['paired_collapses']}), false alarms {fa_det} against {fa_ref}"
                f" (p = {c['false_alarms_p']}); beyond the noise: {c['beyond_noise']}"
            )
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
    out(
        f"all: {summary['false_alarms_per_week']} false alarms/week, "
        f"detection rate {summary['detection_rate']}, median delay "
        f"{summary['median_delay_min']} min over {summary['days']} days"
    )


def _rule_line(name: str, r: dict[str, Any]) -> str:
    ci = r["rate_ci95"] or [None, None]
    d = r["delay_min"]
    return (
        f"  {name}: {r['detected']}/{r['n']} (rate {r['rate']}, 95 % CI {ci[0]}-{ci[1]} "
        f"over {r['days']} days), delay min p10 {d.get('p10')} / median {d.get('median')} / "
        f"p90 {d.get('p90')}, by {r['detected_by']}"
    )


def _print_outer(s: dict[str, Any]) -> None:
    out = typer.echo
    out(
        f"leave one home out, {s['learn_days']:g} learning days; "
        "every choice made on the other homes"
    )
    for f in s["folds"]:
        h = f["home"]
        lo, hi = h["false_alarms_per_week_ci95"]
        c = h["collapse"]
        out(
            f"  held out {f['held_out']}: setting {f['setting']!r}; {h['days']} days, "
            f"{h['false_alarms_per_week']} false alarms/week ({lo}-{hi}; "
            f"{h['false_alarms_by_rule']}), collapses {c['detected']}/{c['n']} ({c['rate']}), "
            f"absence seen as away {h['absence_seen']}"
        )
    lo, hi = s["false_alarms_per_week_ci95"]
    sp = s["spread"]
    out(f"outer figure ({s['days']} held-out days):")
    out(
        f"  false alarms/week {s['false_alarms_per_week']} (95 % CI {lo}-{hi}), per home "
        f"{sp['false_alarms_per_week'][0]}-{sp['false_alarms_per_week'][1]}, by rule "
        f"{s['false_alarms_by_rule']}, {s['false_alarms_in_annotated_absence']} in an "
        "annotated absence"
    )
    out(_rule_line("daytime collapses within 3 h", s["collapse"]))
    if sp["collapse_rate"]:
        out(f"    per home {sp['collapse_rate'][0]}-{sp['collapse_rate'][1]}")
    out(f"    delays (min): {s['collapse']['delay_min']['histogram_min']}")
    for name in ("not_up", "out_of_bed_night", "night_door", "not_back_night"):
        out(_rule_line(name, s[name]))


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
