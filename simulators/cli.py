"""`mz sim ...` and `mz demo`."""

from __future__ import annotations

import typer

sim_app = typer.Typer(no_args_is_help=True)


def demo_command(
    duration: float = typer.Option(0.0, "--for", help="Run this many seconds, then print a summary and exit (0: until Ctrl-C)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run the whole system locally: broker, hub, console, mail sink, three simulated dwellings."""
    raise typer.Exit(1)
