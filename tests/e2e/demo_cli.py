"""`mz demo` as a user starts it, on free ports, for the end-to-end tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def demo_command(data_dir: Path, seconds: float, *options: str) -> list[str]:
    """`python -m mz demo --for SECONDS --json` with its four ports free and its state in
    `data_dir`, plus `options`; run it with cwd=REPO."""
    ports = [str(free_port()) for _ in range(4)]
    return [
        sys.executable, "-m", "mz", "demo", "--for", f"{seconds:g}", "--json",
        "--port", ports[0], "--inbox-port", ports[1], "--smtp-port", ports[2],
        "--broker-port", ports[3], "--data-dir", str(data_dir), *options,
    ]  # fmt: skip
