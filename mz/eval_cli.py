"""`mz eval ...` and `mz train ...`: detector evaluation and training commands.

Each detector family registers its commands from its own module.
"""

from __future__ import annotations

import typer

eval_app = typer.Typer(no_args_is_help=True)
train_app = typer.Typer(no_args_is_help=True)

# Registration hooks: each module adds its commands to eval_app / train_app.
from evaluation.fall_cli import register as _register_fall  # noqa: E402
from evaluation.routine_cli import register as _register_routine  # noqa: E402

_register_fall(eval_app, train_app)
_register_routine(eval_app, train_app)
