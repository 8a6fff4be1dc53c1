"""Silenced technical trouble: "do not report sensor X (or alarm key K) until T".

The hub's `silence` command (`sensors.commands`) puts an entry here; sensor supervision
asks `is_silenced(key, now)` before it raises a technical alarm for that sensor or key.
The book is a small JSON file beside the spool (`silenced.json`), written atomically at
every change, so a silence outlives a restart of the agent. Times are wall-clock UNIX
seconds (a silence lasts until a moment, not for a run of the process). An expired entry
is dropped at the next change; one that cannot be read sets the file aside and starts
empty (nothing silenced: trouble is reported rather than hidden).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Final

from edge.config import EdgeSettings
from edge.state_file import read_state, set_aside, write_atomic

log = logging.getLogger(__name__)

STATE_VERSION: Final = 1
FILE_NAME: Final = "silenced.json"


def silence_path(settings: EdgeSettings) -> Path:
    return settings.spool.path.parent / FILE_NAME


class SilenceBook:
    """Keys (sensor ids, technical alarm keys) and the time each is silenced until."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._until: dict[str, float] = self._load() if path is not None else {}

    def _load(self) -> dict[str, float]:
        assert self.path is not None
        text = read_state(self.path, "silence")
        if text is None:
            return {}
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
                raise ValueError("not a silence file of version 1")
            until = {str(k): float(v) for k, v in dict(raw["until"]).items()}
        except (ValueError, KeyError, TypeError) as exc:
            set_aside(self.path, "silence", exc)
            return {}
        return until

    def is_silenced(self, key: str, now: float) -> bool:
        """Whether trouble for `key` (a sensor id or technical alarm key) is silenced now."""
        until = self._until.get(key)
        return until is not None and now < until

    def until(self, key: str, now: float) -> float | None:
        """When the silence on `key` ends, or None if it is not silenced now."""
        until = self._until.get(key)
        return until if until is not None and now < until else None

    def active(self, now: float) -> dict[str, float]:
        return {k: u for k, u in self._until.items() if now < u}

    def silence(self, key: str, until: float, now: float) -> None:
        """Silence `key` until `until` (at or before `now`: lift it); persisted before it
        returns. Raises OSError when the file cannot be written (nothing changes then)."""
        changed = self.active(now)
        if until > now:
            changed[key] = until
        else:
            changed.pop(key, None)
        self._save(changed)
        self._until = changed
        log.info("silence: %s %s", key, f"until {until:.0f}" if until > now else "lifted")

    def _save(self, until: dict[str, float]) -> None:
        if self.path is None:
            return
        write_atomic(
            self.path,
            json.dumps({"version": STATE_VERSION, "until": until}, separators=(",", ":")),
        )
