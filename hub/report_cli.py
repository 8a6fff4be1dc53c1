"""`mz report ...`: what the hub's stores hold, exported for the care organisation."""

from __future__ import annotations

import re
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from hub.admin_cli import ConfigOpt, DataDirOpt, _data_dir

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
    timezone: Annotated[str, typer.Option(help="Times in this zone.")] = "Europe/Amsterdam",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Every alarm's timeline: raised, received, each notification and DC-09 event sent,
    acknowledged or failed, taken on by whom, arrived, closed with what outcome."""
    from alerts import report
    from alerts.store import AlarmStore
    from hub.app import ALARMS_DB

    try:
        tz = ZoneInfo(timezone)
    except (KeyError, ValueError):
        print(f"mz report: unknown time zone {timezone!r}", file=sys.stderr)
        raise typer.Exit(2) from None
    now = time.time()
    try:
        start = parse_since(since, now, tz)
        end = parse_since(until, now, tz) if until is not None else None
    except ValueError as exc:
        print(f"mz report: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    path = _data_dir(config, data_dir) / ALARMS_DB
    if not path.exists():
        print(f"mz report: no alarm store at {path}", file=sys.stderr)
        raise typer.Exit(2)
    store = AlarmStore(path)
    try:
        data = list(report.rows(store, since=start, until=end, tz=tz))
    finally:
        store.close()
    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if csv:
            report.write_csv(out, data)
        else:
            for row in data:
                print(
                    f"{row['at']}  {row['alarm_id'][:12]:12}  {row['dwelling']:8}  "
                    f"{row['kind']:10}  {row['what']:20}  {row['by']}  {row['note']}",
                    file=out,
                )
    finally:
        if output:
            out.close()
    alarms_n = len({r["alarm_id"] for r in data})
    print(f"{alarms_n} alarms, {len(data)} timeline entries", file=sys.stderr)
