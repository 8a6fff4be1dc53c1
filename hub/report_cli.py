"""`mz report ...`: what the hub's stores hold, exported for the care organisation."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO
from zoneinfo import ZoneInfo

import typer

from alerts.settings import DEFAULT_TIMEZONE
from hub.admin_cli import ConfigOpt, DataDirOpt, _alarm_store, _sql_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from alerts.impact import Figures, MonthlyReport, Spread
    from alerts.store import AlarmStore

app = typer.Typer(no_args_is_help=True)

_AGO = re.compile(r"(\d+(?:\.\d+)?)([mhdw])")
_UNIT_S = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_since(text: str, now: float, tz: ZoneInfo) -> float:
    """A moment given as a duration back from now ("30m", "12h", "7d", "2w") or as a local
    date or date-time ("2026-11-01", "2026-11-01T08:00"); ValueError with a clear text."""
    found = _AGO.fullmatch(text.strip())
    if found:
        return now - float(found.group(1)) * _UNIT_S[found.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError:
            raise ValueError(
                f"{text!r} is no moment: give a duration (30m, 12h, 7d, 2w) or a date "
                "(2026-11-01) or a date and time (2026-11-01T08:00)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


@app.command("alarms")
def alarms(
    since: Annotated[
        str, typer.Option(help="From when: 7d, 12h, 2026-11-01 or 2026-11-01T08:00 (local).")
    ] = "7d",
    until: Annotated[str | None, typer.Option(help="Until when (same forms); default now.")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV (one row per timeline entry).")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Times in this zone.")] = DEFAULT_TIMEZONE,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Every alarm's timeline: raised, received, each notification and DC-09 event sent,
    acknowledged or failed, taken on by whom, arrived, closed with what outcome."""
    from alerts import report

    tz = _zone(timezone)
    now = time.time()
    try:
        start = parse_since(since, now, tz)
        end = parse_since(until, now, tz) if until is not None else None
    except ValueError as exc:
        print(f"mz report: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    with _store(config, data_dir) as store:
        data = list(report.rows(store, since=start, until=end, tz=tz))
    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if csv:
            report.write_csv(out, data)
        else:
            for row in data:
                print(
                    # the whole id: its first half is a time (UUIDv7), so a prefix is not unique
                    f"{row['at']}  {row['alarm_id']:32}  {row['dwelling']:8}  "
                    f"{row['kind']:10}  {row['what']:20}  {row['by']}  {row['note']}",
                    file=out,
                )
    finally:
        if output:
            out.close()
    alarms_n = len({r["alarm_id"] for r in data})
    print(f"{alarms_n} alarms, {len(data)} timeline entries", file=sys.stderr)


def _fail(message: str) -> typer.Exit:
    print(f"mz report: {message}", file=sys.stderr)
    return typer.Exit(2)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        raise _fail(f"unknown time zone {name!r}") from None


@contextmanager
def _store(config: Path | None, data_dir: Path | None) -> Iterator[AlarmStore]:
    """The hub's alarm store (exit 2 when there is none: never an empty new one)."""
    with _alarm_store(config, data_dir) as store:
        if store is None:
            raise _fail(f"no alarm store at {_shown(_sql_url(config, data_dir))}")
        yield store


def _shown(url: str) -> str:
    """The store's URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _labels(engine: Engine) -> dict[str, str]:
    """The registry's dwellings and their labels (none when the store has no registry
    yet: a store no hub of this version has opened)."""
    from sqlalchemy import inspect

    from hub.registry import Registry

    if not inspect(engine).has_table("dwellings"):
        return {}
    return {d.id: d.label for d in Registry(engine).dwellings()}


@app.command("monthly")
def monthly(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (local months); default the last full month.")
    ] = None,
    dwelling: Annotated[str | None, typer.Option(help="One dwelling's figures only.")] = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="CSV: a row per dwelling, then the total.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, as the API gives it.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="The hub's time zone.")] = DEFAULT_TIMEZONE,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """A month's figures per dwelling and in total: alarms by kind, time to first response
    and to being taken on (p50, p90), hand-overs to the alarm centre, outcomes and the
    false-alarm share, sensor downtime (docs/alerts.md, "Monthly report")."""
    import json

    from alerts import impact, report

    if csv and as_json:
        raise _fail("choose --csv or --json, not both")
    tz = _zone(timezone)
    now = time.time()
    try:
        wanted = impact.default_month(now, tz) if month is None else impact.Month.parse(month)
        impact.check_begun(wanted, now, tz)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with _store(config, data_dir) as store:
        labels = _labels(store.engine)
        found = impact.load(store, wanted, tz, now, dwellings=labels, only=dwelling)
    if dwelling is not None and dwelling not in labels and found.total.empty:
        raise _fail(f"no dwelling {dwelling!r} in the registry, and no alarms of it")

    def label(d: str) -> str:
        return labels.get(d, d)

    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if csv:
            report.write_csv(out, impact.csv_rows(found, label), impact.COLUMNS)
        elif as_json:
            json.dump(impact.as_dict(found, label), out, indent=2, ensure_ascii=False)
            out.write("\n")
        else:
            _print_table(found, label, out)
    finally:
        if output:
            out.close()


def _print_table(found: MonthlyReport, label: Callable[[str], str], out: TextIO) -> None:
    from alerts.impact import MIN_SAMPLE
    from alerts.model import AlarmKind, Outcome

    tz = ZoneInfo(found.timezone)
    start = datetime.fromtimestamp(found.start, tz).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(found.end, tz).strftime("%Y-%m-%d %H:%M")
    state = "" if found.complete else " (not over: counted up to now)"
    print(f"Month {found.month}: {start} to {end} {found.timezone}{state}", file=out)
    rows: list[tuple[str, str, Figures]] = [
        (d.dwelling, label(d.dwelling), d.figures) for d in found.dwellings
    ]
    rows.append(("total", "", found.total))
    width = max(len(f"{d} {name}".strip()) for d, name, _ in rows)

    def name(d: str, text: str) -> str:
        return f"{d} {text}".strip() if text != d else d

    print(file=out)
    head = (
        f"{'dwelling':{width}}  {'alarms':>6} {'care':>4}  {'first response p50/p90':>22}  "
        f"{'taken on p50/p90':>18}  {'to centre':>13}  {'false alarms':>13}  {'downtime':>9}"
    )
    print(head, file=out)
    for d, text, f in rows:
        centre = f"{f.to_centre} ({_share(f.to_centre_share)})"
        false = f"{f.outcomes['false_alarm']}/{f.with_outcome} ({_share(f.false_alarm_share)})"
        print(
            f"{name(d, text):{width}}  {f.alarms:>6} {f.care_alarms:>4}  "
            f"{_spread(f.first_response):>22}  {_spread(f.taken_on):>18}  {centre:>13}  "
            f"{false:>13}  {f.downtime_h:>7.1f} h",
            file=out,
        )
    print(file=out)
    kinds = [k.value for k in AlarmKind]
    print(f"{'by kind':{width}}  " + " ".join(f"{k:>10}" for k in kinds), file=out)
    for d, text, f in rows:
        counts = " ".join(f"{f.by_kind[k]:>10}" for k in kinds)
        print(f"{name(d, text):{width}}  {counts}", file=out)
    print(file=out)
    ends = [o.value for o in Outcome] + ["no outcome", "cancelled", "open"]
    print(f"{'outcomes':{width}}  " + " ".join(f"{k:>13}" for k in ends), file=out)
    for d, text, f in rows:
        ended = [f.outcomes[o.value] for o in Outcome]
        ended += [f.without_outcome, f.cancelled_at_edge, f.still_open]
        print(f"{name(d, text):{width}}  " + " ".join(f"{n:>13}" for n in ended), file=out)
    print(file=out)
    print(f"* fewer than {MIN_SAMPLE} values: read with care.", file=out)
    print(
        "Times count from the hub's receipt; technical alarms are left out of the response "
        'times\n(docs/alerts.md, "Monthly report").',
        file=out,
    )


def _spread(s: Spread) -> str:
    if s.p50_s is None or s.p90_s is None:
        return "-"
    star = "*" if s.small_sample else ""
    return f"{_duration(s.p50_s)} / {_duration(s.p90_s)}{star}"


def _duration(seconds: float) -> str:
    """45s, 2m05s, 1h02m."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
