"""`mz broker ...`: broker accounts (Mosquitto dynamic-security plugin), see hub.broker_admin.

Run on the broker's host (or anywhere that reaches it) with the plugin's admin account:
its password comes from `MZ_BROKER_ADMIN_PASSWORD` or `--admin-password-file`, never argv.
A new account's password is printed once, on stdout, and stored nowhere else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import typer

from hub.broker_admin import BrokerAdminError, DynsecAdmin

app = typer.Typer(no_args_is_help=True)
T = TypeVar("T")

BrokerOption = Annotated[
    str, typer.Option("--broker", help="The broker, mqtt://host:port or mqtts://host:port.")
]
AdminOption = Annotated[
    str, typer.Option("--admin", help="The dynamic-security plugin's admin account.")
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--admin-password-file",
        help="File holding the admin password (else MZ_BROKER_ADMIN_PASSWORD).",
    ),
]
CaOption = Annotated[Path | None, typer.Option("--ca-file", help="CA for mqtts://.")]
ResetOption = Annotated[
    bool, typer.Option("--reset-password", help="Give an existing account a new password.")
]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
DEFAULT_ADMIN = "mz-admin"


def _fail(message: str) -> typer.Exit:
    print(f"mz broker: {message}", file=sys.stderr)
    return typer.Exit(2)


def admin_for(broker: str, admin: str, password_file: Path | None, ca: Path | None) -> DynsecAdmin:
    """The plugin's admin connection from the command-line options (also `mz provision`'s);
    BrokerAdminError with one line for the operator if they cannot work."""
    parts = urlsplit(broker)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise BrokerAdminError(f"--broker must look like mqtt://host:1883, not {broker!r}")
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            raise BrokerAdminError(f"cannot read {password_file}: {exc.strerror}") from None
    else:
        password = os.environ.get("MZ_BROKER_ADMIN_PASSWORD", "")
    if not password:
        raise BrokerAdminError(
            "no admin password: set MZ_BROKER_ADMIN_PASSWORD or --admin-password-file"
        )
    tls = parts.scheme == "mqtts"
    return DynsecAdmin(
        parts.hostname,
        parts.port or (8883 if tls else 1883),
        admin,
        password,
        tls=tls,
        tls_ca=str(ca) if ca is not None else None,
    )


def _admin(broker: str, admin: str, password_file: Path | None, ca: Path | None) -> DynsecAdmin:
    try:
        return admin_for(broker, admin, password_file, ca)
    except BrokerAdminError as exc:
        raise _fail(str(exc)) from None


def _do(action: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except BrokerAdminError as exc:
        raise _fail(f"{action}: {exc}") from None


@app.callback()
def connection(
    ctx: typer.Context,
    broker: BrokerOption = DEFAULT_BROKER,
    admin: AdminOption = DEFAULT_ADMIN,
    admin_password_file: PasswordFileOption = None,
    ca_file: CaOption = None,
) -> None:
    """Broker accounts (Mosquitto dynamic-security plugin); these options come before the
    command: `mz broker --broker mqtts://mqtt.example.org:8883 --ca-file ca.crt list`."""
    ctx.obj = (broker, admin, admin_password_file, ca_file)


def _from(ctx: typer.Context) -> DynsecAdmin:
    return _admin(*ctx.obj)


@app.command("setup")
def setup(ctx: typer.Context) -> None:
    """Deny-by-default access and the hub role (idempotent; run once after `init`)."""
    a = _from(ctx)
    _do("setup", a.setup)
    print("broker: default access deny, role mz-hub in place")


@app.command("add-dwelling")
def add_dwelling(
    ctx: typer.Context,
    dwelling: Annotated[str, typer.Argument(help="The pseudonymous dwelling id, e.g. dw-017.")],
    reset_password: ResetOption = False,
) -> None:
    """A dwelling's account: its own topics only, its client id bound to its id."""
    a = _from(ctx)
    password = _do(
        f"add-dwelling {dwelling}", lambda: a.add_dwelling(dwelling, reset=reset_password)
    )
    print(f"dwelling {dwelling}\nbroker username: {dwelling}\nbroker password: {password}")
    print("Put these in the dwelling's edge.toml; they are stored nowhere else.", file=sys.stderr)


@app.command("add-hub")
def add_hub(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="hub.<name>, e.g. hub.1")],
    reset_password: ResetOption = False,
) -> None:
    """A hub worker's account (reads every dwelling, sends receipts and commands)."""
    a = _from(ctx)
    password = _do(f"add-hub {username}", lambda: a.add_hub(username, reset=reset_password))
    print(f"hub account {username}\nbroker password: {password}")
    print("Put it in hub.toml [broker] password (or MZ_HUB_BROKER__PASSWORD).", file=sys.stderr)


AccountArg = Annotated[str, typer.Argument(help="The account, e.g. a stolen dwelling's id.")]


@app.command("disable")
def disable(ctx: typer.Context, username: AccountArg) -> None:
    """Refuse the account from now on and drop its connection at once."""
    a = _from(ctx)
    _do(f"disable {username}", lambda: a.set_enabled(username, False))
    print(f"{username}: disabled")


@app.command("enable")
def enable(ctx: typer.Context, username: AccountArg) -> None:
    """Allow a disabled account again."""
    a = _from(ctx)
    _do(f"enable {username}", lambda: a.set_enabled(username, True))
    print(f"{username}: enabled")


@app.command("remove")
def remove(ctx: typer.Context, username: AccountArg) -> None:
    """Delete an account (and a dwelling's own role)."""
    a = _from(ctx)
    _do(f"remove {username}", lambda: a.remove(username))
    print(f"{username}: removed")


@app.command("list")
def list_accounts(ctx: typer.Context) -> None:
    """Every account: kind, bound client id, enabled or not."""
    a = _from(ctx)
    for acc in sorted(_do("list", a.accounts), key=lambda x: x.username):
        state = "disabled" if acc.disabled else "enabled"
        print(f"{acc.username:<24} {acc.kind:<9} client id {acc.clientid or '-':<24} {state}")
