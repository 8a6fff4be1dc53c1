"""`mz export fhir` (a resident's data as a FHIR Bundle file, under their consent) and
`mz admin consent ...` (grant, list, revoke a resident's consent to share data with a
care institution). The institution's identifier of the resident is on the resident card:
`mz admin resident set DWELLING --institution-id ...`."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from alerts.settings import DEFAULT_TIMEZONE
from hub.admin_cli import ConfigOpt, DataDirOpt, _cli_actor, _fail, _sql_url
from hub.report_cli import _zone, parse_since

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.storage.base import TimeSeriesStore

export_app = typer.Typer(no_args_is_help=True)
consent_app = typer.Typer(no_args_is_help=True)

SinceOpt = Annotated[
    str, typer.Option(help="From when: 7d, 12h, 2026-11-01 or 2026-11-01T08:00 (local).")
]


@contextmanager
def _engine(config: Path | None, data_dir: Path | None) -> Iterator[Engine]:
    from sqlalchemy.exc import SQLAlchemyError

    from hub.errors import ConfigError
    from hub.sql.schema import open_store

    try:
        engine = open_store(_sql_url(config, data_dir))
    except (ConfigError, SQLAlchemyError) as exc:
        raise _fail(f"cannot open the operational store: {exc}") from None
    try:
        yield engine
    finally:
        engine.dispose()


def _points(config: Path | None, data_dir: Path | None) -> TimeSeriesStore:
    from hub.app import open_points_store
    from hub.config import load_settings
    from hub.errors import ConfigError

    try:
        if data_dir is not None and config is None:
            settings = load_settings(None, data={"dir": str(data_dir)})
        else:
            settings = load_settings(config or Path("/etc/mz/hub.toml"))
    except ConfigError as exc:
        raise _fail(f"{exc} (or pass --data-dir)") from None
    return open_points_store(settings)


def _period(since: str, until: str | None, timezone: str, now: float) -> tuple[float, float | None]:
    """--since/--from and --until as UNIX seconds (exit 2 with the reason otherwise)."""
    tz = _zone(timezone)
    try:
        return parse_since(since, now, tz), None if until is None else parse_since(until, now, tz)
    except ValueError as exc:
        raise _fail(str(exc)) from None


@export_app.command("fhir")
def export_fhir(
    dwelling: Annotated[str, typer.Option(help="The dwelling (resident) whose data.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the Bundle to this file.")],
    since: SinceOpt = "7d",
    until: Annotated[str | None, typer.Option(help="Until when (same forms); default now.")] = None,
    institution: Annotated[
        str | None, typer.Option(help="Under this institution's consent (if several).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Local times in this zone.")] = DEFAULT_TIMEZONE,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """A FHIR R4 Bundle (collection) of the resident's vital signs, NEWS2 and alarms, as far
    as their consent allows; the disclosure goes into the audit trail. Exit 1 when no
    consent allows it (nothing is written)."""
    from alerts.store import AlarmStore
    from hub.event_log import SqlEventStore
    from hub.fhir.bundle import to_json
    from hub.fhir.collect import sensor_kinds
    from hub.fhir.consent import ConsentStore
    from hub.fhir.export import export
    from hub.presence import PresenceStore
    from hub.storage.routed import RoutedStore

    now = time.time()
    start, until_t = _period(since, until, timezone, now)
    end = now if until_t is None else until_t
    with _engine(config, data_dir) as engine:
        store = RoutedStore(_points(config, data_dir), SqlEventStore(engine))
        kinds = sensor_kinds(PresenceStore(engine).load(), dwelling)

        async def run() -> object:
            try:
                return await export(
                    ConsentStore(engine),
                    store,
                    AlarmStore(engine),
                    kinds,
                    dwelling,
                    start,
                    end,
                    _cli_actor(),
                    now,
                    institution=institution,
                )
            finally:
                await store.close()

        try:
            result = asyncio.run(run())
        except Exception as exc:  # NotFound, AuditFailed: said plainly
            raise _fail(str(exc)) from None
    from hub.fhir.export import Export

    assert isinstance(result, Export)
    if result.bundle is None:
        print(f"mz export: no consent allows sharing {dwelling}'s data; nothing written")
        raise typer.Exit(1)
    out.write_text(to_json(result.bundle, indent=2) + "\n", encoding="utf-8")
    c = result.disclosure.consent if result.disclosure else None
    print(
        f"{out}: {result.data} resources of {dwelling} for {c.institution if c else '?'}"
        f" (consent {c.id if c else '?'})"
    )


@consent_app.command("grant")
def consent_grant(
    dwelling: Annotated[str, typer.Argument(help="The dwelling (resident).")],
    institution: Annotated[str, typer.Option(help="The institution's code, e.g. zgt-almelo.")],
    categories: Annotated[
        str, typer.Option(help="Comma-separated: vital-signs, news2, alarms.")
    ] = "vital-signs,news2,alarms",
    since: Annotated[str, typer.Option("--from", help="Data from (date, date-time).")] = "0m",
    until: Annotated[str | None, typer.Option(help="Data until (date, date-time).")] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="The institution's FHIR base URL: push new data there.")
    ] = None,
    timezone: Annotated[str, typer.Option(help="Local times in this zone.")] = DEFAULT_TIMEZONE,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Record the resident's consent to share data with an institution."""
    from hub.errors import InvalidValue, NotFound
    from hub.fhir.consent import ConsentStore

    now = time.time()
    start, end = _period(since, until, timezone, now)
    with _engine(config, data_dir) as engine:
        try:
            c = ConsentStore(engine).grant(
                dwelling,
                institution,
                [x.strip() for x in categories.split(",") if x.strip()],
                start,
                _cli_actor(),
                now,
                valid_until=end,
                endpoint=endpoint,
            )
        except (InvalidValue, NotFound) as exc:
            raise _fail(str(exc)) from None
    print(f"consent {c.id}: {dwelling} -> {c.institution} ({', '.join(c.categories)})")


@consent_app.command("list")
def consent_list(
    dwelling: Annotated[str | None, typer.Argument(help="Only this dwelling's.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The consents, in force or not (id, dwelling, institution, categories, period, push)."""
    from datetime import UTC, datetime

    from hub.fhir.consent import ConsentStore

    def at(t: float | None) -> str:
        return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%MZ")

    with _engine(config, data_dir) as engine:
        rows = ConsentStore(engine).consents(dwelling)
    for c in rows:
        state = "revoked " + at(c.revoked_at) if c.revoked_at is not None else "in force"
        print(
            f"{c.id}\t{c.dwelling}\t{c.institution}\t{','.join(c.categories)}\t"
            f"{at(c.valid_from)}..{at(c.valid_until)}\t{c.endpoint or '-'}\t{state}"
        )
    if not rows:
        print("no consents", file=sys.stderr)


@consent_app.command("revoke")
def consent_revoke(
    consent_id: Annotated[int, typer.Argument(help="The consent's id (mz admin consent list).")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """End a consent now: nothing more is exported, pushed or served under it."""
    from hub.errors import NotFound
    from hub.fhir.consent import ConsentStore

    with _engine(config, data_dir) as engine:
        try:
            c = ConsentStore(engine).revoke(consent_id, _cli_actor(), time.time())
        except NotFound as exc:
            raise _fail(str(exc)) from None
    print(f"consent {c.id} revoked")
