"""The loop the alarm service's lanes run: one tick, then sleep until woken or the poll
interval has passed, until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def tick_until(
    stop: asyncio.Event,
    wake: asyncio.Event,
    tick: Callable[[], Awaitable[None]],
    poll_s: float,
    *,
    what: str,
    log: logging.Logger,
) -> None:
    """Call `tick` until `stop` is set; between ticks wait for `wake`, `stop` or `poll_s`.

    Only these supervisors catch broadly: a failed tick (the store or a directory failed)
    is logged and the next one tries again; the work stays queued in SQLite.
    """
    while not stop.is_set():
        wake.clear()
        try:
            await tick()
        except Exception:
            log.exception("%s tick failed; retrying in %.1f s", what, poll_s)
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED
        )
        for w in pending:
            w.cancel()
