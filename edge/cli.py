"""`mz edge ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

ConfigPath = Annotated[
    Path, typer.Option("--config", "-c", help="TOML settings file (env MZ_EDGE_... overrides).")
]
DEFAULT_CONFIG = Path("/etc/mz-edge/edge.toml")


def _load(config: Path) -> object:
    from edge.config import load_settings
    from edge.errors import ConfigError

    try:
        return load_settings(config)
    except ConfigError as exc:
        # One line, no traceback: this is for the installer reading the journal.
        typer.echo(f"mz edge: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None


def _check_tls_files(settings: object) -> None:
    """Exit 2 with one line if the CA, client certificate or key file cannot be used."""
    from edge.config import EdgeSettings
    from edge.errors import ConfigError
    from edge.tls import client_context

    assert isinstance(settings, EdgeSettings)
    try:
        client_context(settings)
    except ConfigError as exc:
        typer.echo(f"mz edge: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Validate the settings file and print a summary (secrets masked)."""
    from edge.config import EdgeSettings

    settings = _load(config)
    assert isinstance(settings, EdgeSettings)
    _check_tls_files(settings)
    typer.echo(
        f"ok: dwelling {settings.dwelling}, broker {settings.broker_url} "
        f"(user {settings.mqtt_username}, tls {'on' if settings.tls else 'off'}), "
        f"{len(settings.devices)} devices, spool {settings.spool.path}"
    )
    for d in settings.devices:
        what: list[str] = [d.kind, d.transport]
        if d.role:
            what.append(f"role {d.role}")
        if d.kind == "wearable":
            what.append("falls" if d.accelerometer else "no accelerometer")
            what.extend(d.health)
        typer.echo(f"  {d.id}: {', '.join(what)}")
    if settings.fallback is not None:
        fb = settings.fallback
        typer.echo(
            f"  GSM fallback: modem {fb.modem}, after {fb.after_s:g} s, contacts "
            f"{', '.join(c.id for c in fb.contacts)}"  # ids only: the numbers are personal
            + (f", sounder {fb.sounder}" if fb.sounder else "")
        )


@app.command("run")
def run(
    config: ConfigPath = DEFAULT_CONFIG,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR.")
    ] = "INFO",
) -> None:
    """Run the edge agent until SIGTERM/SIGINT (then flush the spool and exit 0)."""
    import asyncio
    import logging
    import os

    from edge.app import EdgeAgent, run_until_signalled
    from edge.config import EdgeSettings
    from edge.errors import SpoolError
    from edge.watchdog import Notifier, watchdog_interval

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _load(config)
    assert isinstance(settings, EdgeSettings)
    _check_tls_files(settings)

    # Under systemd's Type=notify: READY=1, STOPPING=1 and, with WatchdogSec=, the pings.
    notifier = Notifier.from_env(os.environ)
    watchdog_s = watchdog_interval(os.environ) if notifier is not None else None

    async def main() -> None:
        agent = EdgeAgent(settings, notifier=notifier, watchdog_s=watchdog_s)
        await run_until_signalled(agent)

    try:
        asyncio.run(main())
    except SpoolError as exc:
        typer.echo(f"mz edge: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if notifier is not None:
            notifier.close()
