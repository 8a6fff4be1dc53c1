"""Where the browser tests save their screenshots: `$MZ_SCREENSHOTS` (`make screenshots`
sets docs/img, the pictures docs/console.md shows), else /tmp/mz-screenshots."""

from __future__ import annotations

import os
from pathlib import Path


def shot(name: str) -> Path:
    folder = Path(os.environ.get("MZ_SCREENSHOTS", "/tmp/mz-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
