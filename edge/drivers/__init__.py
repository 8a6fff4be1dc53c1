"""Device drivers: I/O only. Each owns one transport and emits our own `Frame` values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sensors.readings import Frame

Emit = Callable[[Frame], None]


class Driver(Protocol):
    """A source of frames. `run` returns or raises when its transport is lost; the agent's
    supervisor then restarts it with jittered backoff. Simulated devices implement the
    same protocol, so the rest of the agent cannot tell them apart."""

    @property
    def name(self) -> str: ...

    @property
    def sensors(self) -> tuple[str, ...]:
        """The device ids this driver serves (marked "failed" while it is down)."""
        ...

    async def run(self, emit: Emit) -> None: ...
