"""`mz hub ...` commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The hub's TOML file; MZ_HUB_... variables override it."),
]


@app.command("run")
def run(config: ConfigOption = Path("/etc/mz/hub.toml")) -> None:
    """Run the hub: MQTT ingest, presence, alarm delivery and the console."""
    import asyncio
    import logging
    import signal

    from hub.app import build_hub
    from hub.config import load_settings
    from hub.errors import ConfigError

    try:
        settings = load_settings(config)
        settings.require_secrets()
    except ConfigError as exc:
        # One line, no traceback: a configuration mistake is not a crash.
        print(f"mz hub: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None

    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        hub = build_hub(settings)
        try:
            await hub.run(stop)
        finally:
            await hub.close()

    try:
        asyncio.run(main())
    except ConfigError as exc:
        print(f"mz hub: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(config: ConfigOption = Path("/etc/mz/hub.toml")) -> None:
    """Validate the configuration (secrets included) and exit."""
    from hub.config import load_settings
    from hub.errors import ConfigError

    try:
        load_settings(config).require_secrets()
    except ConfigError as exc:
        print(f"mz hub: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"{config}: ok")
