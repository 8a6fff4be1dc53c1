"""A dwelling's configuration bundle: what `mz provision` hands the installer for its Pi.

`<out>/<dwelling>/` (mode 0700) holds:

* `edge.toml` — the agent's settings in the shape of deploy/edge/edge.example.toml: the
  dwelling id, the broker's URL, and the paths of the files below as they will be on the
  Pi (`install_dir`, /etc/mz-edge by default); the installer adds the devices;
* `password` (0600) — the broker password, read by the agent through `password_file`;
* `ca.crt` — the CA the edge checks the broker's certificate against (when given);
* `client.crt`, `client.key` (0600) — with `--cert`: the dwelling's client certificate
  from the hub's CA (hub.client_ca) and its key.

Bundles are written in a staging directory first and moved into place only once the
broker and the registry have taken the dwellings (hub.provisioning), so a failed run
leaves no bundle behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Final

from hub.errors import HubError

DEFAULT_INSTALL_DIR: Final = PurePosixPath("/etc/mz-edge")
EDGE_TOML: Final = "edge.toml"
PASSWORD: Final = "password"  # noqa: S105 (the file name, not a secret)
BROKER_CA: Final = "ca.crt"
CLIENT_CERT: Final = "client.crt"
CLIENT_KEY: Final = "client.key"
SECRET_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644


class BundleError(HubError):
    """A bundle could not be written."""


@dataclass(frozen=True, slots=True)
class BundleSettings:
    """What every bundle of a run shares."""

    edge_url: str  # the broker as the Pi reaches it, e.g. mqtts://mqtt.example.org:8883
    broker_ca: bytes | None = None  # PEM; None: the Pi trusts its system CAs
    install_dir: PurePosixPath = DEFAULT_INSTALL_DIR


@dataclass(frozen=True, slots=True)
class Bundle:
    dwelling: str
    password: str
    cert_pem: bytes | None = None
    key_pem: bytes | None = None


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def edge_toml(bundle: Bundle, settings: BundleSettings, now: datetime) -> str:
    """The bundle's edge.toml: deploy/edge/edge.example.toml's keys and defaults, with the
    dwelling's own values; devices left to the installer."""
    at = settings.install_dir
    files = [f"password_file = {_q(str(at / PASSWORD))}"]
    if settings.broker_ca is not None:
        files.append(
            f"ca_file = {_q(str(at / BROKER_CA))}         # CA of the broker's certificate"
        )
    if bundle.cert_pem is not None:
        files.append(f"cert_file = {_q(str(at / CLIENT_CERT))}  # from the hub's CA")
        files.append(f"key_file = {_q(str(at / CLIENT_KEY))}")
    lines = [
        f"# Mobiele Zorg edge agent settings for dwelling {bundle.dwelling}: {at / EDGE_TOML}.",
        f"# Written by `mz provision` on {now:%Y-%m-%d}, in the shape of",
        "# deploy/edge/edge.example.toml (docs/edge.md has every key). Add the dwelling's",
        "# devices at the end before starting the agent. The secrets are the files beside",
        "# this one (password, client.key): mode 0600, never in a repository.",
        "",
        f"dwelling = {_q(bundle.dwelling)}                     # also the MQTT user name",
        f"broker_url = {_q(settings.edge_url)}",
        *files,
        "heartbeat_s = 30                        # retained status with health, this often",
        "batch_s = 1.0                           # readings are batched this long",
        "# silence_s = 300                       # one limit for every device; unset, each",
        "#                                         kind has its own (docs/edge.md)",
        'timezone = "Europe/Amsterdam"           # the routine detector\'s time of day',
        "",
        "[fall]",
        'cancel_window_s = 30                    # long press on the pendant = "ik ben oke"',
        "long_lie_s = 300                        # no recovery this long: long lie (critical)",
        "silent_after_impact_s = 60              # hard impact, then the wearable silent",
        "",
        "[spool]",
        'path = "/var/lib/mz-edge/spool.sqlite"',
        "max_messages = 200000                   # > 2 days of 1 batch/s offline",
        "max_bytes = 268435456                   # 256 MiB",
        "",
        "# The dwelling's devices (deploy/edge/edge.example.toml has one of each kind):",
        "# [[devices]]",
        '# id = "pendant-1"',
        '# kind = "pendant"',
        '# address = "A4:C1:38:12:34:56"',
        "# silence_s = 7200",
    ]
    return "\n".join(lines) + "\n"


def _files(bundle: Bundle, settings: BundleSettings, now: datetime) -> list[tuple[str, bytes, int]]:
    files = [
        (EDGE_TOML, edge_toml(bundle, settings, now).encode(), PUBLIC_MODE),
        (PASSWORD, (bundle.password + "\n").encode(), SECRET_MODE),
    ]
    if settings.broker_ca is not None:
        files.append((BROKER_CA, settings.broker_ca, PUBLIC_MODE))
    if bundle.cert_pem is not None and bundle.key_pem is not None:
        files.append((CLIENT_CERT, bundle.cert_pem, PUBLIC_MODE))
        files.append((CLIENT_KEY, bundle.key_pem, SECRET_MODE))
    return files


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # exact, whatever the umask
        os.write(fd, data)
    finally:
        os.close(fd)


class Staging:
    """Bundles written beside `out` first (`out/.staging-*`, mode 0700) and moved into
    `out/<dwelling>` by `commit`; `discard` removes them. Same file system, so each move
    is a rename."""

    def __init__(self, out: Path) -> None:
        self.out = out
        try:
            out.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
        except OSError as exc:
            raise BundleError(f"cannot write bundles in {out}: {exc.strerror or exc}") from exc
        self._staged: list[str] = []

    def add(self, bundle: Bundle, settings: BundleSettings, now: datetime) -> None:
        target = self.dir / bundle.dwelling
        try:
            target.mkdir(mode=0o700)
            for name, data, mode in _files(bundle, settings, now):
                _write(target / name, data, mode)
        except OSError as exc:
            raise BundleError(
                f"cannot write the bundle of {bundle.dwelling}: {exc.strerror or exc}"
            ) from exc
        self._staged.append(bundle.dwelling)

    def commit(self, dwellings: Iterable[str] | None = None) -> list[Path]:
        """Move the staged bundles (or only those of `dwellings`) into place, replacing
        an older bundle of the same dwelling; the paths written."""
        chosen = (
            self._staged if dwellings is None else [d for d in self._staged if d in set(dwellings)]
        )
        written = []
        try:
            for dwelling in chosen:
                final = self.out / dwelling
                if final.exists():
                    old = self.dir / f".old-{dwelling}"
                    final.rename(old)
                (self.dir / dwelling).rename(final)
                written.append(final)
        except OSError as exc:
            raise BundleError(
                f"cannot move bundles into {self.out}: {exc.strerror or exc}"
            ) from exc
        finally:
            self.discard()
        return written

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
