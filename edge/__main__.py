"""`python -m edge run --config edge.toml` (same as `mz edge run`)."""

from edge.cli import app

app(prog_name="mz-edge")
