"""A real PostgreSQL for the tests: Debian's postgresql-15 binaries, started once per test
session as a plain process on loopback, owned by an unprivileged user (PostgreSQL refuses to
run as root). Each test gets a database of its own (`fresh_database`)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port, wait_for_port

SUPERUSER = "mz"


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        msg = f"{name} not found: install the Debian package 'postgresql' (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def _as_user() -> list[str]:
    """The command prefix that runs PostgreSQL as a non-root user (nothing when we are
    not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.fail("no user 'nobody' to run PostgreSQL as")
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--"]


@dataclass
class Postgres:
    port: int
    datadir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url()) as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_postgres(workdir: Path) -> Iterator[Postgres]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    prefix = _as_user()
    if prefix:
        # pytest's temporary directories are private to root: the unprivileged user gets a
        # directory of its own under the system's temporary directory.
        workdir = Path(tempfile.mkdtemp(prefix="mz-pg-"))
        shutil.chown(workdir, user="nobody")
    else:
        workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "pgdata"
    port = free_port()
    _run([*prefix, initdb, "-D", str(datadir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"])
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={workdir} "
        # fsync off: the tests kill hub workers, never the database server or the machine.
        "-c fsync=off -c full_page_writes=off -c max_connections=200"
    )
    log = workdir / "postgres.log"
    _run([*prefix, pg_ctl, "-D", str(datadir), "-l", str(log), "-o", opts, "-w", "start"])
    try:
        wait_for_port(port)
        yield Postgres(port, datadir)
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(datadir), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        if prefix:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")
