"""Hub settings for tests that build a hub in-process without a broker or a console: real
stores under `data_dir`, a broker address nothing listens on (nothing connects)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from hub.config import HubSettings, load_settings


def offline_hub_settings(data_dir: Path, **sections: Any) -> HubSettings:
    """`sections`: more settings sections (`budget={...}`, `timeseries={...}`)."""
    return load_settings(
        None,
        broker={"url": "mqtt://127.0.0.1:1", "username": "hub.1", "password": "not-used-pw-1"},
        data={"dir": str(data_dir)},
        console={"enabled": False, "secret_key": secrets.token_urlsafe(24)},
        **sections,
    )
