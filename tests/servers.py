"""Real servers for integration and end-to-end tests, started as plain processes on loopback.

A test that needs a server it cannot find is skipped with a message naming the Debian
package to install, except under CI=true, where it fails: CI installs everything.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

HUB_USER = "hub"
HUB_PASSWORD = "hub-test-pw"


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        msg = f"{name} not found: install the Debian package {package!r} (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def make_test_certs(d: Path) -> Path:
    """A throw-away CA and a server certificate for localhost/127.0.0.1 in `d`, named as
    deploy/mosquitto expects them (ca.crt, server.crt, server.key). Returns the CA file."""
    openssl = require_binary("openssl", "openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=mz-test-ca",
    )
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return d / "ca.crt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


async def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait for `predicate()` (sync or async) to become truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate!r}")
        await asyncio.sleep(interval)


@dataclass
class Mosquitto:
    """A real Mosquitto broker with per-dwelling credentials and the production ACL."""

    binary: str
    workdir: Path
    port: int
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def add_user(self, user: str, password: str) -> None:
        self.users[user] = password

    def _write_config(self) -> Path:
        pwfile = self.workdir / "passwd"
        pwfile.write_text("")
        for user, pw in self.users.items():
            subprocess.run(
                [
                    shutil.which("mosquitto_passwd") or "mosquitto_passwd",
                    "-b",
                    str(pwfile),
                    user,
                    pw,
                ],
                check=True,
                capture_output=True,
            )
        acl = self.workdir / "acl"
        acl.write_text(
            f"user {HUB_USER}\ntopic readwrite mz/v1/#\n\n"
            "pattern write mz/v1/%u/readings\npattern write mz/v1/%u/events\n"
            "pattern write mz/v1/%u/alarms\npattern readwrite mz/v1/%u/status\n"
            "pattern read mz/v1/%u/cmd/#\n"
        )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {pwfile}\n"
            f"acl_file {acl}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
            "per_listener_settings false\n"
            "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        pwfile.chmod(0o600)
        return conf

    def start(self) -> None:
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_mosquitto(tmp: Path) -> Iterator[Mosquitto]:
    binary = require_binary("mosquitto", "mosquitto")
    require_binary("mosquitto_passwd", "mosquitto")
    broker = Mosquitto(binary=binary, workdir=tmp, port=free_port())
    broker.add_user(HUB_USER, HUB_PASSWORD)
    for i in range(1, 6):
        broker.add_user(f"dw-{i:03d}", f"pw-dw-{i:03d}")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every mail it receives."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def apprise_url(self, to: str = "mantelzorger@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=hub@example.org&to={to}&mode=insecure"


@contextmanager
def running_smtp() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
