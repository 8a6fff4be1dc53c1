"""`mz demo --alarm-centre HOST:PORT` against pysiaalarm's real DC-09 receiver that is down
for the first 40 s: the pendant (dw-001), the fall (dw-002) and the NEWS2-8 alarm (dw-004)
still reach it as new events once it is up, each once; link tests keep coming; `--json`
says per alarm when the receiving centre acknowledged it."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.demo_cli import REPO, demo_command
from tests.servers import SiaReceiver, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DOWN_S = 40.0
RUN_S = 110.0


async def test_demo_reaches_an_outside_receiver_that_comes_up_late(tmp_path: Path) -> None:
    receiver = SiaReceiver(free_port(), {a: None for a in ("0000", "1001", "1002", "1003", "1004")})
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *demo_command(tmp_path / "demo", RUN_S, "--alarm-centre", f"127.0.0.1:{receiver.port}"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    communicate = asyncio.ensure_future(proc.communicate())
    try:
        # The receiver is down for the demo's first 40 s (a wait on the clock is the
        # scenario here, not a stand-in for a condition).
        done, _ = await asyncio.wait({communicate}, timeout=DOWN_S)
        assert not done, "the demo ended early"
        await receiver.start()
        out, err = await asyncio.wait_for(communicate, timeout=RUN_S + 60)
    finally:
        await receiver.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert f"127.0.0.1:{receiver.port} (SIA DC-09, unencrypted)" in err.decode()
    summary = json.loads(out)

    new_events = [(acct, code) for acct, q, code, _ in receiver.alarms() if q == "1"]
    assert ("1001", "101") in new_events  # the pendant
    assert ("1002", "100") in new_events  # the fall
    assert ("1004", "100") in new_events  # NEWS2 8
    # None twice: each frame the receiver took has its own sequence number per account.
    frames = Counter((str(e.account), str(e.sequence)) for e in receiver.events if e.event_type)
    assert all(n == 1 for n in frames.values()), frames
    assert not any(e.encrypted for e in receiver.events)
    # Link tests (NULL messages, account 0000) at least every 60 s while it was up (70 s).
    assert len(receiver.events) - len(receiver.alarms()) >= 2

    by_kind = {(a["dwelling"], a["kind"]): a for a in summary["alarms"]}
    for key in (("dw-001", "personal"), ("dw-002", "fall")):
        acked = by_kind[key]["centre_acked_s"]
        assert acked is not None and acked >= DOWN_S - 5, by_kind[key]
    news2 = [
        a for a in summary["alarms"] if a["dwelling"] == "dw-004" and a["severity"] == "critical"
    ]
    assert news2 and news2[0]["centre_acked_s"] is not None
    assert time.monotonic() - started < RUN_S + 90
