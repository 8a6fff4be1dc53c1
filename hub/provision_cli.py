"""`mz provision ...`: a dwelling's broker account, registry entry and edge bundle in one
step (hub.provisioning), one dwelling or a CSV file of them; and `revoke`.

Broker options come before the command, as for `mz broker` (the plugin's admin password
from MZ_BROKER_ADMIN_PASSWORD or --admin-password-file); the hub's data directory (its
registry, and its CA under ca/) from --config or --data-dir, as for `mz admin`.
Passwords are never printed unless --show-password asks for one; they are in the bundles.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from hub.admin_cli import ConfigOpt, DataDirOpt, _data_dir, _registry, dwelling_remove
from hub.broker_admin import BrokerAdminError, DynsecAdmin, check_dwelling_id, dwelling_role
from hub.broker_cli import (
    DEFAULT_ADMIN,
    DEFAULT_BROKER,
    AdminOption,
    BrokerOption,
    CaOption,
    PasswordFileOption,
    admin_for,
)

if TYPE_CHECKING:
    from hub.provisioning import Outcome, Row

app = typer.Typer(no_args_is_help=True)

EdgeUrlOpt = Annotated[
    str,
    typer.Option(
        "--edge-url",
        envvar="MZ_PROVISION_EDGE_URL",
        help="The broker as the dwellings reach it, e.g. mqtts://mqtt.example.org:8883.",
    ),
]
BrokerCaOpt = Annotated[
    Path | None,
    typer.Option(
        "--broker-ca",
        envvar="MZ_PROVISION_BROKER_CA",
        help="CA of the broker's certificate, copied into each bundle (default: the Pi's"
        " system CAs).",
    ),
]
CertOpt = Annotated[
    bool, typer.Option("--cert", help="Also a client certificate from the hub's CA.")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Where the bundles go, one directory each.")]
InstallDirOpt = Annotated[
    str, typer.Option("--install-dir", help="Where the bundle's files will be on the Pi.")
]
ReissueOpt = Annotated[
    bool,
    typer.Option(
        "--reissue",
        help="New credentials (and bundle) for a dwelling that has them: a lost or stolen"
        " Pi, or one revoked earlier.",
    ),
]
DEFAULT_OUT = Path("edge-bundles")
DEFAULT_INSTALL_DIR = "/etc/mz-edge"


def _fail(message: str) -> typer.Exit:
    print(f"mz provision: {message}", file=sys.stderr)
    return typer.Exit(2)


@app.callback()
def connection(
    ctx: typer.Context,
    broker: BrokerOption = DEFAULT_BROKER,
    admin: AdminOption = DEFAULT_ADMIN,
    admin_password_file: PasswordFileOption = None,
    ca_file: CaOption = None,
) -> None:
    """Provision dwellings: broker account, registry, edge bundle. Broker options come
    before the command: `mz provision --broker mqtt://127.0.0.1:1883 dwelling dw-017 ...`."""
    ctx.obj = (broker, admin, admin_password_file, ca_file)


def _admin(ctx: typer.Context) -> DynsecAdmin:
    try:
        return admin_for(*ctx.obj)
    except BrokerAdminError as exc:
        raise _fail(str(exc)) from None


class _Progress:
    """One line per stage on stderr, rewritten in place on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._tty:
            end = "\n" if done == total else ""
            print(f"\r{stage}: {done}/{total}", end=end, file=sys.stderr, flush=True)
        elif done == total and total:
            print(f"{stage}: {done}/{total}", file=sys.stderr)


def _run(
    ctx: typer.Context,
    rows: list[Row],
    *,
    edge_url: str,
    broker_ca: Path | None,
    cert: bool,
    out: Path,
    install_dir: str,
    reissue: bool,
    config: Path | None,
    data_dir: Path | None,
    progress: bool,
) -> Outcome:
    from hub.client_ca import CA_DIR, CaError, ClientCA
    from hub.edge_bundle import BundleError, BundleSettings
    from hub.provisioning import Provisioner, ProvisionError

    url = urlsplit(edge_url)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise _fail(f"--edge-url must look like mqtts://mqtt.example.org:8883, not {edge_url!r}")
    if url.scheme == "mqtt":
        print("mz provision: warning: --edge-url is plain mqtt://, not TLS", file=sys.stderr)
    ca_pem = None
    if broker_ca is not None:
        try:
            ca_pem = broker_ca.read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read --broker-ca {broker_ca}: {exc.strerror}") from None
        if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise _fail(f"--broker-ca {broker_ca} holds no PEM certificate")
    now = datetime.now(UTC)
    directory = _data_dir(config, data_dir)
    try:
        ca = ClientCA.open(directory / CA_DIR, now) if cert else None
    except CaError as exc:
        raise _fail(str(exc)) from None
    settings = BundleSettings(edge_url, ca_pem, PurePosixPath(install_dir))
    admin = _admin(ctx)
    with _registry(None, directory) as reg:
        try:
            with admin.session() as session:
                provisioner = Provisioner(session, reg, out, settings, now, ca=ca)
                if progress:
                    provisioner.progress = _Progress()
                return provisioner.provision(rows, reissue=reissue)
        except (ProvisionError, BrokerAdminError, BundleError, CaError) as exc:
            raise _fail(str(exc)) from None


@app.command("dwelling")
def dwelling(
    ctx: typer.Context,
    dwelling_id: Annotated[str, typer.Argument(help="Pseudonymous id, e.g. dw-017.")],
    edge_url: EdgeUrlOpt,
    label: Annotated[
        str, typer.Option(help="What operators see (needed if it is not registered yet).")
    ] = "",
    address: Annotated[str, typer.Option(help="Street address (registry only).")] = "",
    language: Annotated[str, typer.Option(help="nl or en.")] = "nl",
    cert: CertOpt = False,
    out: OutOpt = DEFAULT_OUT,
    broker_ca: BrokerCaOpt = None,
    install_dir: InstallDirOpt = DEFAULT_INSTALL_DIR,
    reissue: ReissueOpt = False,
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Also print the password (stdout).")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """One dwelling: its broker account (its own topics, its client id bound to its id),
    its registry entry, and its edge bundle in OUT/ID (secrets mode 0600)."""
    from hub.context import Dwelling
    from hub.provisioning import Row

    with _registry(config, data_dir) as reg:
        known = reg.dwelling(dwelling_id)
    if known is None and not label.strip():
        raise _fail(f"{dwelling_id} is not registered yet: give it a --label")
    # A registered dwelling stays as it is (`mz admin` changes it).
    row = Row(known or Dwelling(dwelling_id, label.strip(), address, language))
    outcome = _run(
        ctx,
        [row],
        edge_url=edge_url,
        broker_ca=broker_ca,
        cert=cert,
        out=out,
        install_dir=install_dir,
        reissue=reissue,
        config=config,
        data_dir=data_dir,
        progress=False,
    )
    account = "new password" if outcome.reissued else "broker account created"
    registry = "registered" if outcome.registered else "already registered"
    print(f"dwelling {dwelling_id}: {account}, {registry}, bundle in {out / dwelling_id}")
    if show_password:
        print(f"broker password: {outcome.passwords[dwelling_id]}")


@app.command("csv")
def from_csv(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="id,label[,address][,language] with a header.")],
    edge_url: EdgeUrlOpt,
    cert: CertOpt = False,
    out: OutOpt = DEFAULT_OUT,
    broker_ca: BrokerCaOpt = None,
    install_dir: InstallDirOpt = DEFAULT_INSTALL_DIR,
    reissue: ReissueOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Many dwellings from a CSV file: every row checked first (a bad one is named by its
    line and nothing is done), then one broker connection and one registry transaction."""
    from hub.provisioning import ProvisionError, read_csv

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise _fail(f"cannot read {file}: {why}") from None
    try:
        rows = read_csv(text)
    except ProvisionError as exc:
        raise _fail(f"{file}: {exc}") from None
    started = time.monotonic()
    outcome = _run(
        ctx,
        rows,
        edge_url=edge_url,
        broker_ca=broker_ca,
        cert=cert,
        out=out,
        install_dir=install_dir,
        reissue=reissue,
        config=config,
        data_dir=data_dir,
        progress=True,
    )
    print(
        f"provisioned {len(rows)} dwellings in {time.monotonic() - started:.1f} s: "
        f"{len(outcome.created)} broker accounts created, {len(outcome.reissued)} reissued, "
        f"{len(outcome.registered)} newly registered; bundles in {out}/"
    )


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    dwelling_id: Annotated[str, typer.Argument(help="The dwelling's id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove it from the registry even with open alarms.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Shut a dwelling out at once: its broker account is disabled (its connection dropped,
    every new one refused), then it is removed from the registry as `mz admin dwelling
    remove` does. `mz provision dwelling ID --reissue` lets it in again, with new
    credentials."""
    try:
        check_dwelling_id(dwelling_id)
    except BrokerAdminError as exc:
        raise _fail(str(exc)) from None
    admin = _admin(ctx)
    try:
        with admin.session() as session:
            account = next((a for a in session.accounts() if a.username == dwelling_id), None)
            if account is not None and account.roles != (dwelling_role(dwelling_id),):
                raise _fail(f"{dwelling_id} exists at the broker and is not a dwelling's account")
            if account is not None:
                session.run([{"command": "disableClient", "username": dwelling_id}])
    except BrokerAdminError as exc:
        raise _fail(f"revoke {dwelling_id}: {exc}") from None
    with _registry(config, data_dir) as reg:
        registered = reg.dwelling(dwelling_id) is not None
    if account is None and not registered:
        raise _fail(f"no dwelling {dwelling_id} at the broker or in the registry")
    print(
        f"{dwelling_id}: broker account disabled, connection dropped"
        if account is not None
        else f"{dwelling_id}: no broker account (nothing to disable)"
    )
    if registered:
        dwelling_remove(dwelling_id, force=force, config=config, data_dir=data_dir)
    else:
        print(f"{dwelling_id}: not in the registry")


@app.command("ca")
def show_ca(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """The hub's CA for client certificates (made on first use): prints its certificate's
    path, for the broker's `cafile` when it requires client certificates."""
    from hub.client_ca import CA_CERT, CA_DIR, CaError, ClientCA

    directory = _data_dir(config, data_dir) / CA_DIR
    try:
        ClientCA.open(directory, datetime.now(UTC))
    except CaError as exc:
        raise _fail(str(exc)) from None
    print(directory / CA_CERT)


@app.command("fallback")
def fallback(
    dwelling_id: Annotated[str, typer.Argument(help="Pseudonymous id, e.g. dw-017.")],
    modem: Annotated[
        str,
        typer.Option(help="The modem on the Pi: a serial device (/dev/ttyUSB2) or socket://."),
    ],
    label: Annotated[
        str, typer.Option(help="How the SMS names the dwelling (at most 40 plain characters).")
    ] = "",
    after_s: Annotated[
        float, typer.Option("--after-s", help="Text when the hub has not confirmed this long.")
    ] = 120.0,
    out: OutOpt = DEFAULT_OUT,
    install_dir: InstallDirOpt = DEFAULT_INSTALL_DIR,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The dwelling's GSM fallback: the local copy of its routing policy's recipients with
    their phone numbers, in OUT/ID/fallback.toml (mode 0600; personal data). The agent
    reads it through `fallback_file` in its edge.toml. Phone numbers are not printed."""
    from hub.edge_bundle import BundleError
    from hub.edge_fallback import FALLBACK_TOML, fallback_copy, write_fallback

    with _registry(config, data_dir) as reg:
        if reg.dwelling(dwelling_id) is None:
            raise _fail(f"no dwelling {dwelling_id} in the registry")
        policy, contacts = reg.policy(dwelling_id), reg.contacts_for(dwelling_id)
    try:
        copy = fallback_copy(
            dwelling_id, policy, contacts, modem=modem, label=label, after_s=after_s
        )
        path = write_fallback(out / dwelling_id, copy)
    except BundleError as exc:
        raise _fail(str(exc)) from None
    print(f"dwelling {dwelling_id}: {len(copy.contacts)} contacts in {path}")
    for cid in copy.skipped:
        print(f"  skipped {cid}: no international phone number (+<country><number>)")
    at = PurePosixPath(install_dir) / FALLBACK_TOML
    print(f'add to its edge.toml: fallback_file = "{at}"')
