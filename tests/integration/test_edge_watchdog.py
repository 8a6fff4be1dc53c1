"""systemd's notifications and watchdog (edge.watchdog) against a real notification socket.

The test plays systemd's part: it binds the AF_UNIX datagram socket, passes it in
NOTIFY_SOCKET with WATCHDOG_USEC, and reads what arrives together with the sender's pid
(SCM_CREDENTIALS, what systemd checks for NotifyAccess=main).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.app import EdgeAgent
from edge.config import EdgeSettings
from edge.watchdog import Notifier
from tests.edge_fixtures import FAST
from tests.servers import TEST_DWELLINGS, Mosquitto, wait_until

pytestmark = pytest.mark.integration

WATCHDOG_USEC = 200_000  # WatchdogSec=0.2 s: a ping every 0.1 s
WATCHDOG_S = WATCHDOG_USEC / 1_000_000


@dataclass(frozen=True, slots=True)
class Notification:
    pid: int
    fields: dict[str, str]
    text: str


@dataclass
class NotifySocket:
    """systemd's end: a bound datagram socket and a thread that records what arrives."""

    address: str  # as in NOTIFY_SOCKET: a path or @abstract
    sock: socket.socket
    received: list[Notification] = field(default_factory=list)

    def of(self, assignment: str) -> list[int]:
        """Indexes of the notifications that carry `assignment` (e.g. "WATCHDOG=1")."""
        return [i for i, n in enumerate(self.received) if assignment in n.text.split("\n")]

    def _read(self, stop: threading.Event) -> None:
        space = socket.CMSG_SPACE(struct.calcsize("3i"))
        while not stop.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, space)
            except TimeoutError:
                continue
            except OSError:
                return
            pid = -1
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[: struct.calcsize("3i")])[0]
            text = data.decode()
            pairs = (line.partition("=") for line in text.split("\n") if line)
            self.received.append(Notification(pid, {k: v for k, _, v in pairs}, text))


@contextlib.contextmanager
def notify_socket(abstract: bool) -> Iterator[NotifySocket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.settimeout(0.05)
    folder = None
    if abstract:
        name = f"mz-test-notify-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        folder = tempfile.mkdtemp(prefix="mz-notify-")  # short: sun_path holds 108 bytes
        address = os.path.join(folder, "notify")
        sock.bind(address)
    recorder = NotifySocket(address, sock)
    stop = threading.Event()
    reader = threading.Thread(target=recorder._read, args=(stop,), daemon=True)
    reader.start()
    try:
        yield recorder
    finally:
        stop.set()
        reader.join(5)
        sock.close()
        if folder is not None:
            with contextlib.suppress(OSError):
                os.unlink(address)
            os.rmdir(folder)


def settings(mosquitto: Mosquitto, tmp_path: Path) -> EdgeSettings:
    return EdgeSettings(
        dwelling="dw-001",
        broker_url=mosquitto.url,
        password=TEST_DWELLINGS["dw-001"],
        spool={"path": tmp_path / "spool.sqlite"},
        **FAST,
    )


@dataclass
class AgentThread:
    """An agent on its own event loop in a thread, as in its own process: the test's loop
    stays free to watch while the agent's loop is blocked."""

    agent: EdgeAgent
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)


@contextlib.contextmanager
def agent_in_thread(make: Callable[[], EdgeAgent]) -> Iterator[AgentThread]:
    box: dict[str, object] = {}
    started = threading.Event()

    def main() -> None:
        async def go() -> None:
            agent = make()
            box["handle"] = AgentThread(agent, asyncio.get_running_loop())
            started.set()
            await agent.run()

        try:
            asyncio.run(go())
        except BaseException as exc:
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(10), "the agent did not start"
    handle = box.get("handle")
    assert isinstance(handle, AgentThread), box.get("error")
    try:
        yield handle
    finally:
        handle.call(handle.agent.stop)
        thread.join(20)
        assert not thread.is_alive(), "the agent did not stop"
        assert "error" not in box, box["error"]


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
async def test_notifier_reaches_the_socket(abstract: bool) -> None:
    with notify_socket(abstract) as systemd:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": systemd.address})
        assert notifier is not None
        assert notifier.notify("READY=1", "STATUS=starting")
        notifier.close()
        await wait_until(lambda: systemd.received, timeout=5)
        assert systemd.received[0].fields == {"READY": "1", "STATUS": "starting"}
        assert systemd.received[0].pid == os.getpid()


def test_notifier_without_systemd_and_with_bad_addresses(caplog: pytest.LogCaptureFixture) -> None:
    assert Notifier.from_env({}) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": ""}) is None
    with caplog.at_level(logging.WARNING):
        assert Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert "neither a path nor an @abstract name" in caplog.text
    # Nobody listening: a clear warning and False, never an exception in the agent.
    gone = Notifier(f"@mz-test-nobody-{uuid.uuid4().hex}")
    with caplog.at_level(logging.WARNING):
        assert gone.notify("WATCHDOG=1") is False
    assert "service notification" in caplog.text
    gone.close()


async def test_mz_edge_run_under_type_notify_with_watchdog(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`mz edge run` as systemd runs it: READY=1 once started, WATCHDOG=1 every half of
    WATCHDOG_USEC, STOPPING=1 on SIGTERM; every one from the main pid (NotifyAccess=main)."""
    cfg = tmp_path / "edge.toml"
    cfg.write_text(
        f'dwelling = "dw-001"\nbroker_url = "{mosquitto.url}"\n'
        f'password = "{TEST_DWELLINGS["dw-001"]}"\n'
        f'[spool]\npath = "{tmp_path / "spool.sqlite"}"\n'
    )
    with notify_socket(abstract=True) as systemd:
        env = {**os.environ, "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "200000"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mz",
            "edge",
            "run",
            "--config",
            str(cfg),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        try:
            await wait_until(lambda: len(systemd.of("WATCHDOG=1")) >= 5, timeout=15)
            assert systemd.of("READY=1") == [0]  # first, and once
            began = time.monotonic()
            n = len(systemd.of("WATCHDOG=1"))
            await wait_until(lambda: len(systemd.of("WATCHDOG=1")) >= n + 5, timeout=5)
            # 5 more pings at 0.1 s each: about half a second, never a burst or a crawl.
            assert 0.3 < time.monotonic() - began < 3.0
        finally:
            proc.send_signal(signal.SIGTERM)
            err = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
            rc = await asyncio.wait_for(proc.wait(), 5)
        assert rc == 0, err
        assert "systemd watchdog: a ping every 0.1 s" in err
        stopping = systemd.of("STOPPING=1")
        assert len(stopping) == 1
        # STOPPING=1 comes when the stop begins: no ping after it, and not a second time.
        assert all(i < stopping[0] for i in systemd.of("WATCHDOG=1"))
        assert {n.pid for n in systemd.received} == {proc.pid}


async def test_a_blocked_event_loop_stops_the_pings(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with notify_socket(abstract=False) as systemd:
        notifier = Notifier(systemd.address)

        def make() -> EdgeAgent:
            s = settings(mosquitto, tmp_path)
            return EdgeAgent(s, drivers=[], notifier=notifier, watchdog_s=WATCHDOG_S / 2)

        with agent_in_thread(make) as a:
            await wait_until(lambda: a.agent.state.connected, timeout=10)
            await wait_until(lambda: len(systemd.of("WATCHDOG=1")) >= 3, timeout=5)

            blocked, release = threading.Event(), threading.Event()
            marker = Notifier(systemd.address)

            def wedge() -> None:
                # On the agent's loop: everything the loop sent before this is ahead of the
                # marker in the socket's queue, so what follows it was sent while blocked.
                marker.notify("X-TEST=blocked")
                blocked.set()
                release.wait(30)  # a blocking call: the loop does not turn until released

            a.call(wedge)
            try:
                await wait_until(lambda: systemd.of("X-TEST=blocked"), timeout=5)
                at = systemd.of("X-TEST=blocked")[0]
                # systemd would kill the agent after WatchdogSec (0.2 s) without a ping:
                # watch five times as long. This waits for a ping that must not come.
                deadline = time.monotonic() + 5 * WATCHDOG_S
                while time.monotonic() < deadline:
                    pinged = [i for i in systemd.of("WATCHDOG=1") if i > at]
                    assert not pinged, "pinged while wedged"
                    await asyncio.sleep(0.01)
                assert blocked.is_set()
            finally:
                release.set()  # the loop turns again: the pings come back
            await wait_until(
                lambda: len([i for i in systemd.of("WATCHDOG=1") if i > at]) >= 3, timeout=5
            )
            marker.close()
        assert systemd.of("STOPPING=1")
        notifier.close()


async def test_a_main_task_that_ends_stops_the_pings(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The publisher returning (a bug: it must run until cancelled) leaves an agent that
    never sends again; the watchdog stops pinging so that systemd restarts it."""
    caplog.set_level(logging.WARNING, logger="edge.watchdog")
    with notify_socket(abstract=True) as systemd:
        notifier = Notifier(systemd.address)
        end_publisher = threading.Event()

        def make() -> EdgeAgent:
            s = settings(mosquitto, tmp_path)
            agent = EdgeAgent(s, drivers=[], notifier=notifier, watchdog_s=WATCHDOG_S / 2)
            real_run = agent.publisher.run

            async def run_until_told() -> None:
                real = asyncio.create_task(real_run())
                while not end_publisher.is_set():
                    await asyncio.sleep(0.01)
                real.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await real
                # ... and return: the task has ended, the agent goes on without it

            agent.publisher.run = run_until_told  # type: ignore[method-assign]
            return agent

        with agent_in_thread(make) as a:
            await wait_until(lambda: len(systemd.of("WATCHDOG=1")) >= 3, timeout=10)
            end_publisher.set()
            await wait_until(a.agent.health_problems, timeout=5)
            count = len(systemd.of("WATCHDOG=1"))
            deadline = time.monotonic() + 5 * WATCHDOG_S
            while time.monotonic() < deadline:
                # At most the one ping already on its way when the publisher ended.
                assert len(systemd.of("WATCHDOG=1")) <= count + 1, "pinged while unhealthy"
                await asyncio.sleep(0.01)
            assert a.agent.health_problems() == ["task publisher has ended"]
        said = "unhealthy (task publisher has ended): no more watchdog pings, systemd will restart"
        assert said in caplog.text
        notifier.close()
