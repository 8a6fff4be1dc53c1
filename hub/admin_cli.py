"""`mz admin ...` commands: dwellings, contacts, operators.

They work on the hub's registry file directly (SQLite, WAL), also while the hub runs:
console sessions live in the same file, so removing or disabling an operator, a new
password or `operator logout` ends their sessions in the running hub at once.
Passwords never go on the command line: a prompt with confirmation, or --password-stdin.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hub.registry import SqliteRegistry

app = typer.Typer(no_args_is_help=True)
dwelling_app = typer.Typer(no_args_is_help=True, help="Dwellings (pseudonymous ids).")
contact_app = typer.Typer(no_args_is_help=True, help="Contacts (mantelzorgers) per dwelling.")
operator_app = typer.Typer(no_args_is_help=True, help="Console operators and admins.")
app.add_typer(dwelling_app, name="dwelling")
app.add_typer(contact_app, name="contact")
app.add_typer(operator_app, name="operator")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The hub's TOML file (its data directory is used)."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The hub's data directory (instead of --config)."),
]
DEFAULT_CONFIG = Path("/etc/mz/hub.toml")


def _fail(message: str) -> typer.Exit:
    print(f"mz admin: {message}", file=sys.stderr)
    return typer.Exit(2)


def _data_dir(config: Path | None, data_dir: Path | None) -> Path:
    from hub.config import load_settings
    from hub.errors import ConfigError

    if data_dir is not None:
        return data_dir
    path = config or DEFAULT_CONFIG
    try:
        return load_settings(path).data.dir
    except ConfigError as exc:
        raise _fail(f"{exc} (or pass --data-dir)") from None


@contextmanager
def _registry(config: Path | None, data_dir: Path | None) -> Iterator[SqliteRegistry]:
    """The hub's registry, closed afterwards; a change it refuses is a clear error (exit 2)."""
    from hub.app import REGISTRY_DB
    from hub.errors import RegistryError
    from hub.registry import SqliteRegistry

    reg = SqliteRegistry(_data_dir(config, data_dir) / REGISTRY_DB)
    try:
        yield reg
    except RegistryError as exc:
        raise _fail(str(exc)) from None
    finally:
        reg.close()


def _open_alarms(data_dir: Path, dwelling: str) -> int:
    """Open alarms of `dwelling` in the alarm service's store (none if it has none yet)."""
    from hub.app import ALARMS_DB

    path = data_dir / ALARMS_DB
    if not path.exists():
        return 0
    from alerts.store import AlarmStore

    store = AlarmStore(path)
    try:
        return sum(1 for a in store.open_alarms() if a.dwelling == dwelling)
    finally:
        store.close()


# -- dwellings -------------------------------------------------------------------


@dwelling_app.command("add")
def dwelling_add(
    dwelling_id: Annotated[str, typer.Argument(help="Pseudonymous id, e.g. dw-017.")],
    label: Annotated[str, typer.Option(help="What operators see, e.g. 'Unit 3, Tuinstraat'.")],
    address: Annotated[str, typer.Option(help="Street address (registry only).")] = "",
    language: Annotated[str, typer.Option(help="nl or en.")] = "nl",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Register a dwelling."""
    from hub.context import Dwelling

    with _registry(config, data_dir) as reg:
        reg.add_dwelling(Dwelling(dwelling_id, label, address, language))
    print(f"added dwelling {dwelling_id}")


@dwelling_app.command("list")
def dwelling_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List dwellings."""
    with _registry(config, data_dir) as reg:
        for d in reg.dwellings():
            print(f"{d.id}\t{d.label}\t{d.address}\t{d.language}")


@dwelling_app.command("remove")
def dwelling_remove(
    dwelling_id: str,
    force: Annotated[bool, typer.Option("--force", help="Remove even with open alarms.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a dwelling and its contacts (refused while it has open alarms)."""
    directory = _data_dir(config, data_dir)
    with _registry(None, directory) as reg:
        reg.remove_dwelling(
            dwelling_id, open_alarms=_open_alarms(directory, dwelling_id), force=force
        )
    print(f"removed dwelling {dwelling_id}")


# -- contacts --------------------------------------------------------------------


@contact_app.command("add")
def contact_add(
    dwelling: Annotated[str, typer.Option(help="The dwelling's id.")],
    name: Annotated[str, typer.Option(help="The contact's name.")],
    email: Annotated[str | None, typer.Option(help="E-mail address for alarms.")] = None,
    language: Annotated[str, typer.Option(help="nl or en.")] = "nl",
    priority: Annotated[int, typer.Option(help="1 is asked first.")] = 1,
    contact_id: Annotated[str | None, typer.Option("--id", help="Default: generated.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Add a contact (mantelzorger) to a dwelling."""
    import secrets

    from alerts.model import Contact

    cid = contact_id or f"c-{secrets.token_hex(4)}"
    with _registry(config, data_dir) as reg:
        reg.add_contact(Contact(cid, dwelling, name, email, language, priority))
    print(f"added contact {cid}")


@contact_app.command("list")
def contact_list(
    dwelling: Annotated[str | None, typer.Option(help="Only this dwelling.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List contacts."""
    with _registry(config, data_dir) as reg:
        contacts = reg.contacts_for(dwelling) if dwelling else reg.contacts()
        for c in contacts:
            print(f"{c.id}\t{c.dwelling}\t{c.name}\t{c.email or ''}\t{c.language}\t{c.priority}")


@contact_app.command("remove")
def contact_remove(contact_id: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Remove a contact."""
    with _registry(config, data_dir) as reg:
        reg.remove_contact(contact_id)
    print(f"removed contact {contact_id}")


# -- operators -------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@operator_app.command("add")
def operator_add(
    username: str,
    role: Annotated[str, typer.Option(help="operator or admin.")] = "operator",
    display_name: Annotated[str, typer.Option(help="Shown in the console.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Add a console operator; the password is prompted for (twice) or read from stdin."""
    from hub.context import Operator

    with _registry(config, data_dir) as reg:
        reg.add_operator(Operator(username, role, display_name), _read_password(password_stdin))
    print(f"added {role} {username}")


@operator_app.command("list")
def operator_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List operators (never their password hashes)."""
    with _registry(config, data_dir) as reg:
        for o in reg.operators():
            state = "enabled" if o.enabled else "disabled"
            print(f"{o.username}\t{o.role}\t{o.display_name}\t{state}")


@operator_app.command("remove")
def operator_remove(username: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Remove an operator; their console sessions end at once."""
    with _registry(config, data_dir) as reg:
        ended = reg.remove_operator(username)
    print(f"removed operator {username} ({_sessions(ended)} ended)")


@operator_app.command("disable")
def operator_disable(username: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Disable an operator: no login (form or HTTP Basic); their sessions end at once."""
    with _registry(config, data_dir) as reg:
        ended = reg.set_enabled(username, False)
    print(f"disabled operator {username} ({_sessions(ended)} ended)")


@operator_app.command("enable")
def operator_enable(username: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Enable a disabled operator again."""
    with _registry(config, data_dir) as reg:
        reg.set_enabled(username, True)
    print(f"enabled operator {username}")


@operator_app.command("passwd")
def operator_passwd(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Set a new password (prompted for twice, or read from stdin); sessions end at once."""
    with _registry(config, data_dir) as reg:
        if reg.operator(username) is None:
            raise _fail(f"no operator {username!r}")
        ended = reg.set_password(username, _read_password(password_stdin))
    print(f"new password for {username} ({_sessions(ended)} ended)")


@operator_app.command("sessions")
def operator_sessions(username: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List an operator's open console sessions (started, last seen, ends; UTC)."""
    import time

    with _registry(config, data_dir) as reg:
        if reg.operator(username) is None:
            raise _fail(f"no operator {username!r}")
        for s in reg.sessions_of(username, time.time()):
            ends = min(s.expires_at, s.idle_expires_at)
            print(f"{_utc(s.created_at)}\t{_utc(s.last_seen)}\t{_utc(ends)}")


@operator_app.command("logout")
def operator_logout(username: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """End every console session of an operator (they can log in again)."""
    with _registry(config, data_dir) as reg:
        if reg.operator(username) is None:
            raise _fail(f"no operator {username!r}")
        ended = reg.end_sessions(username)
    print(f"logged out {username} ({_sessions(ended)} ended)")


def _sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


def _utc(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
