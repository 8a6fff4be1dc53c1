"""Placeholder: commands are registered here."""

from __future__ import annotations

import typer


def register(eval_app: typer.Typer, train_app: typer.Typer) -> None:
    """Add this module's commands to `mz eval` and `mz train`."""
