"""`python -m hub ...`: the same commands as `mz hub ...`."""

from __future__ import annotations

from hub.cli import app

if __name__ == "__main__":
    app()
