"""`mz admin ...` commands: dwellings, contacts, operators, routing, the alarm centre,
residents' cards and the audit trail.

They work on the hub's operational store directly (the registry's tables: the SQLite file
under data.dir, or `[storage] sql`), also while the hub runs: console sessions live in
the same store, so removing or disabling an operator, a new password or `operator logout`
ends their sessions in the running hub at once.
Passwords and key-safe codes never go on the command line (it shows in `ps` and the shell's
history): a prompt with confirmation, or stdin. Whoever can run `mz admin` on the registry
store is an admin: reading a key-safe code or care notes is audited with source `cli` and
the OS user (the real uid's name, and sudo's caller).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from alerts.model import Contact
    from alerts.routing import DueStep, Policy, Window
    from alerts.store import AlarmStore
    from hub.context import Actor
    from hub.registry import Registry

app = typer.Typer(no_args_is_help=True)
dwelling_app = typer.Typer(no_args_is_help=True, help="Dwellings (pseudonymous ids).")
contact_app = typer.Typer(no_args_is_help=True, help="Contacts (mantelzorgers) per dwelling.")
operator_app = typer.Typer(no_args_is_help=True, help="Console operators and admins.")
app.add_typer(dwelling_app, name="dwelling")
app.add_typer(contact_app, name="contact")
app.add_typer(operator_app, name="operator")
routing_app = typer.Typer(
    no_args_is_help=True, help="Who hears of a dwelling's alarms, in which order, when."
)
centre_app = typer.Typer(
    no_args_is_help=True, help="The dwelling's account and zones at the alarm centre (DC-09)."
)
app.add_typer(routing_app, name="routing")
app.add_typer(centre_app, name="alarm-centre")
resident_app = typer.Typer(
    no_args_is_help=True,
    help="A dwelling's resident card: who lives there, access, GP, care plan (registry only).",
)
app.add_typer(resident_app, name="resident")


def _command_cli() -> None:
    from hub.command_cli import command

    app.command("command")(command)


_command_cli()

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The hub's TOML file (its data directory is used)."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The hub's data directory (instead of --config)."),
]
DwellingArg = Annotated[str, typer.Argument(help="The dwelling's id.")]
ReasonOpt = Annotated[str, typer.Option(help="Why, for the audit trail.")]
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


def _default_wait(config: Path | None, data_dir: Path | None) -> float:
    """The hub's `routing.step_wait_s` (the wait of dwellings without a policy of their
    own), from its TOML file; the built-in default with --data-dir alone."""
    from hub.config import RoutingSection, load_settings
    from hub.errors import ConfigError

    if data_dir is not None and config is None:
        return RoutingSection().step_wait_s
    try:
        return load_settings(config or DEFAULT_CONFIG).routing.step_wait_s
    except ConfigError:
        return RoutingSection().step_wait_s


@contextmanager
def _registry(config: Path | None, data_dir: Path | None) -> Iterator[Registry]:
    """The hub's registry, closed afterwards; a change it refuses is a clear error (exit 2).

    On the operational store, brought to the current schema (created if there is none
    yet: dwellings are registered before the hub first runs), with an old registry file
    of the data directory imported first, as the hub does when it starts."""
    from sqlalchemy.exc import SQLAlchemyError

    from hub.errors import AuditFailed, ConfigError, RegistryError
    from hub.legacy_import import import_legacy
    from hub.registry import Registry
    from hub.sql.schema import open_store

    directory = _data_dir(config, data_dir)
    try:
        engine = open_store(_sql_url(config, data_dir))
        import_legacy(engine, directory)
    except (ConfigError, SQLAlchemyError) as exc:
        raise _fail(f"cannot open the operational store: {exc}") from None
    try:
        yield Registry(engine, default_wait_s=_default_wait(config, data_dir))
    except (RegistryError, AuditFailed) as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()


def _sql_url(config: Path | None, data_dir: Path | None) -> str:
    """The operational store's URL: `sqlite:///<data-dir>/hub.sqlite` with --data-dir,
    else the hub.toml's `[storage] sql` (by default the file under its data.dir)."""
    from hub.config import OPS_DB, load_settings
    from hub.errors import ConfigError

    if data_dir is not None:
        return f"sqlite:///{(data_dir / OPS_DB).resolve()}"
    try:
        return load_settings(config or DEFAULT_CONFIG).sql_url
    except ConfigError as exc:
        raise _fail(f"{exc} (or pass --data-dir)") from None


@contextmanager
def _alarm_store(config: Path | None, data_dir: Path | None) -> Iterator[AlarmStore | None]:
    """The alarm service's store (None while there is none yet: never creates one)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from alerts.store import AlarmStore
    from hub.errors import ConfigError
    from hub.sql.engine import normalise_url, open_engine

    try:
        url = normalise_url(_sql_url(config, data_dir))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).exists():
        yield None
        return
    engine = open_engine(url)
    try:
        try:
            known = inspect(engine).has_table("alarms")
        except SQLAlchemyError as exc:
            raise _fail(f"cannot open the operational store: {exc}") from None
        yield AlarmStore(engine) if known else None
    finally:
        engine.dispose()


def _open_alarms(config: Path | None, data_dir: Path | None, dwelling: str) -> int:
    """Open alarms of `dwelling` in the alarm service's store (none if it has none yet)."""
    with _alarm_store(config, data_dir) as store:
        if store is None:
            return 0
        return sum(1 for a in store.open_alarms() if a.dwelling == dwelling)


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
    with _registry(config, data_dir) as reg:
        reg.remove_dwelling(
            dwelling_id, open_alarms=_open_alarms(config, data_dir, dwelling_id), force=force
        )
    print(f"removed dwelling {dwelling_id}")


# -- contacts --------------------------------------------------------------------


PhoneOpt = Annotated[str | None, typer.Option(help="Phone number, e.g. +31612345678.")]
ChannelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        help="Where to reach them: an apprise URL (ntfy://..., json://...) or target;"
        " repeat in fallback order. Default: their e-mail address.",
    ),
]
RoleOpt = Annotated[str | None, typer.Option(help="family, neighbour, installer or care.")]
WindowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        help="When they can be asked, e.g. '07:00-22:00' or 'ma-vr 08:00-18:00'; repeat"
        " for more. Default: always.",
    ),
]


def _windows(specs: list[str]) -> tuple[Window, ...]:
    from alerts.routing import parse_window

    try:
        return tuple(parse_window(spec) for spec in specs)
    except ValueError as exc:
        raise _fail(f"--window: {exc}") from None


@contact_app.command("add")
def contact_add(
    dwelling: Annotated[str, typer.Option(help="The dwelling's id.")],
    name: Annotated[str, typer.Option(help="The contact's name.")],
    email: Annotated[str | None, typer.Option(help="E-mail address for alarms.")] = None,
    language: Annotated[str, typer.Option(help="nl or en.")] = "nl",
    priority: Annotated[int, typer.Option(help="1 is asked first.")] = 1,
    contact_id: Annotated[str | None, typer.Option("--id", help="Default: generated.")] = None,
    phone: PhoneOpt = None,
    channel: ChannelOpt = None,
    role: RoleOpt = "family",
    window: WindowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Add a contact (mantelzorger, neighbour, installer, carer) to a dwelling."""
    import secrets

    from alerts.model import Contact

    cid = contact_id or f"c-{secrets.token_hex(4)}"
    contact = Contact(
        cid,
        dwelling,
        name,
        email,
        language,
        priority,
        phone=phone,
        channels=tuple(channel or ()),
        role=role or "family",
        windows=_windows(window or []),
    )
    with _registry(config, data_dir) as reg:
        reg.add_contact(contact)
    print(f"added contact {cid}")


@contact_app.command("update")
def contact_update(
    contact_id: Annotated[str, typer.Argument(help="The contact's id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    email: Annotated[str | None, typer.Option(help="A new address ('' removes it).")] = None,
    language: Annotated[str | None, typer.Option(help="nl or en.")] = None,
    priority: Annotated[int | None, typer.Option(help="1 is asked first.")] = None,
    phone: Annotated[str | None, typer.Option(help="A new number ('' removes it).")] = None,
    channel: ChannelOpt = None,
    no_channels: Annotated[
        bool, typer.Option("--no-channels", help="Remove every channel (e-mail only).")
    ] = False,
    role: RoleOpt = None,
    window: WindowOpt = None,
    no_windows: Annotated[
        bool, typer.Option("--no-windows", help="Remove every window (always available).")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Change a contact: only what is given changes; --channel and --window replace the
    contact's list. A new address, phone or channel ends the links sent before."""
    from dataclasses import replace

    if channel and no_channels:
        raise _fail("--channel and --no-channels exclude each other")
    if window and no_windows:
        raise _fail("--window and --no-windows exclude each other")
    windows = _windows(window or [])
    with _registry(config, data_dir) as reg:
        old = reg.contact(contact_id)
        if old is None:
            raise _fail(f"no contact {contact_id!r}")
        new = replace(
            old,
            name=old.name if name is None else name,
            email=old.email if email is None else (email or None),
            language=language or old.language,
            priority=old.priority if priority is None else priority,
            phone=old.phone if phone is None else (phone or None),
            channels=() if no_channels else tuple(channel) if channel else old.channels,
            role=role or old.role,
            windows=() if no_windows else windows or old.windows,
        )
        reg.update_contact(new)
    print(f"updated contact {contact_id}")


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
            print(
                f"{c.id}\t{c.dwelling}\t{c.name}\t{c.email or ''}\t{c.language}\t{c.priority}"
                f"\t{c.role}\t{c.phone or ''}\t{_channel_kinds(c)}\t{_windows_text(c.windows)}"
            )


def _channel_kinds(contact: Contact) -> str:
    """Only the scheme of each channel: apprise URLs may hold tokens or passwords."""
    return ",".join(t.split(":", 1)[0] for t in contact.targets)


def _windows_text(windows: tuple[Window, ...]) -> str:
    from alerts.routing import format_window

    return "; ".join(format_window(w) for w in windows) or "always"


@contact_app.command("remove")
def contact_remove(contact_id: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Remove a contact."""
    with _registry(config, data_dir) as reg:
        reg.remove_contact(contact_id)
    print(f"removed contact {contact_id}")


@contact_app.command("set-password")
def contact_set_password(
    contact_id: Annotated[str, typer.Argument(help="The contact's id.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Give a contact a login of their own for the family page (/familie/login): their
    e-mail address and this password (prompted for twice, or read from stdin). A new
    password ends their family sessions at once."""
    import time

    with _registry(config, data_dir) as reg:
        if reg.contact(contact_id) is None:
            raise _fail(f"no contact {contact_id!r}")
        ended = reg.set_contact_password(contact_id, _read_password(password_stdin), time.time())
    print(f"{contact_id} can log in to the family page ({_sessions(ended)} ended)")


@contact_app.command("clear-password")
def contact_clear_password(
    contact_id: Annotated[str, typer.Argument(help="The contact's id.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Take a contact's family-page login away; every family session of theirs ends (the
    link in an alarm message still opens the page, briefly)."""
    with _registry(config, data_dir) as reg:
        ended = reg.clear_contact_password(contact_id)
    print(f"{contact_id} has no family-page login any more ({_sessions(ended)} ended)")


@contact_app.command("logout")
def contact_logout(
    contact_id: Annotated[str, typer.Argument(help="The contact's id.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """End every family-page session of a contact (they can log in again)."""
    with _registry(config, data_dir) as reg:
        if reg.contact(contact_id) is None:
            raise _fail(f"no contact {contact_id!r}")
        ended = reg.end_family_sessions(contact_id)
    print(f"logged out {contact_id} ({_sessions(ended)} ended)")


# -- routing ---------------------------------------------------------------------


def _order(specs: list[str]) -> list[tuple[str, float]]:
    import math

    order: list[tuple[str, float]] = []
    for spec in specs:
        cid, sep, wait = spec.rpartition(":")
        try:
            wait_s = float(wait)
        except ValueError:
            wait_s = math.nan
        if not sep or not cid or not math.isfinite(wait_s) or wait_s < 0:
            raise _fail(f"--contact {spec!r}: expected ID:WAIT_S, e.g. c-anna:120")
        order.append((cid, wait_s))
    return order


@routing_app.command("set")
def routing_set(
    dwelling: DwellingArg,
    contact: Annotated[
        list[str] | None,
        typer.Option(
            "--contact",
            help="ID:WAIT_S: ask this contact, wait this many seconds for them to take the"
            " alarm on; repeat, in order.",
        ),
    ] = None,
    centre_after: Annotated[
        float | None,
        typer.Option(
            "--centre-after",
            help="Hand the alarm to the alarm centre at most this many seconds after it came"
            " in. Default: after the last contact's wait.",
        ),
    ] = None,
    installer: Annotated[
        str | None,
        typer.Option(
            help="Contact told of technical alarms. Default: the dwelling's installer contact."
        ),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Give a dwelling its own escalation order (instead of the default)."""
    if not contact:
        raise _fail("give at least one --contact ID:WAIT_S (routing reset restores the default)")
    order = _order(contact)
    with _registry(config, data_dir) as reg:
        policy = reg.set_policy(dwelling, order, centre_after_s=centre_after, installer=installer)
    print(f"routing of {dwelling} set: alarm centre within {_duration(policy.bound_s)} at most")


@routing_app.command("reset")
def routing_reset(
    dwelling: DwellingArg,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Forget a dwelling's own routing: its contacts in priority order again."""
    with _registry(config, data_dir) as reg:
        had = reg.reset_policy(dwelling)
    print(f"routing of {dwelling} reset" if had else f"{dwelling} had the default routing")


@routing_app.command("show")
def routing_show(
    dwelling: DwellingArg,
    at: Annotated[
        str | None,
        typer.Option(help="Plan for an alarm at this local time, e.g. '2026-11-22 03:00'."),
    ] = None,
    tz: Annotated[str, typer.Option(help="The dwelling's time zone.")] = "Europe/Amsterdam",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show a dwelling's routing and the plan for a normal, a critical and a technical
    alarm coming in now (or --at)."""
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from alerts.routing import format_window

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"--tz: unknown time zone {tz!r}") from None
    if at is None:
        received = time.time()
    else:
        try:
            local = datetime.fromisoformat(at)
        except ValueError:
            raise _fail(f"--at: not a time {at!r} (e.g. 2026-11-22 03:00)") from None
        received = (local if local.tzinfo else local.replace(tzinfo=zone)).timestamp()
    with _registry(config, data_dir) as reg:
        d = reg.dwelling(dwelling)
        if d is None:
            raise _fail(f"no dwelling {dwelling!r}")
        contacts = {c.id: c for c in reg.contacts_for(dwelling)}
        policy = reg.policy(dwelling)
        own = reg.has_own_policy(dwelling)
        account = reg.alarm_centre_account(dwelling)

    def who(cid: str | None) -> str:
        c = contacts.get(cid or "")
        return f"{cid} ({c.name}, {c.role})" if c else str(cid)

    wait = _duration(reg.default_wait_s)
    kind = "its own" if own else f"the default (contacts by priority, {wait} each)"
    print(f"Routing of {dwelling} ({d.label}): {kind}")
    print(f"{'step':<6}{'contact':<44}{'wait':>14}  available")
    for i, r in enumerate(policy.recipients, 1):
        windows = "; ".join(format_window(w) for w in r.windows) or "always"
        print(f"{i:<6}{who(r.contact_id):<44}{_duration(r.wait_s):>14}  {windows}")
    if policy.centre_after_s is None:
        print("alarm centre: after the last contact's wait")
    else:
        print(f"alarm centre: at most {_duration(policy.centre_after_s)} after the alarm came in")
    print(f"at the latest: {_duration(policy.bound_s)} (nobody taking it on)")
    print(f"installer (technical alarms): {who(policy.installer) if policy.installer else 'none'}")
    print(f"alarm-centre account: {account or 'not set'}")
    listed = {r.contact_id for r in policy.recipients} | {policy.installer}
    left_out = [who(cid) for cid in contacts if cid not in listed]
    if left_out:
        print(f"not in the routing: {', '.join(left_out)}")
    print()
    moment = datetime.fromtimestamp(received, zone).strftime("%a %Y-%m-%d %H:%M %Z")
    for title, alarm_kind, severity in _EXAMPLES:
        print(f"{title}, coming in {moment}:")
        _print_plan(_plan(policy, alarm_kind, severity, received, zone), received, who)
        print()


def _plan(
    policy: Policy, kind_name: str, severity_name: str, received: float, zone: ZoneInfo
) -> tuple[DueStep, ...]:
    from alerts.routing import schedule
    from sensors.contract import AlarmKind, Severity

    return schedule(
        policy,
        kind=AlarmKind(kind_name),
        severity=Severity(severity_name),
        received_at=received,
        tz=zone,
    )


# (title, kind, severity) of the example alarms `routing show` plans.
_EXAMPLES = (
    ("Normal alarm (e.g. inactivity, high)", "inactivity", "high"),
    ("Critical alarm (pendant, fall, long lie, NEWS2 >= 7)", "personal", "critical"),
    ("Technical alarm (offline, sensor silent, battery)", "technical", "low"),
)


def _print_plan(
    plan: tuple[DueStep, ...], received: float, who: Callable[[str | None], str]
) -> None:
    if not plan:
        print("  nobody is told (the operators' console only)")
    for step in plan:
        target = "ALARM CENTRE" if step.target.kind == "centre" else who(step.target.contact_id)
        print(f"  +{_clock(step.due_at - received):<9}{target:<44} {step.reason}")


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02}:{rest % 60:02}" if h else f"{rest // 60}:{rest % 60:02}"


def _duration(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds:g} s ({_clock(seconds)})"


# -- the alarm centre -------------------------------------------------------------


@centre_app.command("account")
def centre_account(
    dwelling: DwellingArg,
    account: Annotated[
        str | None, typer.Argument(help="3-16 hex digits. Omit to show the current one.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the account.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Set (or show, or --clear) the dwelling's account at the alarm centre."""
    if clear and account is not None:
        raise _fail("give an account or --clear, not both")
    with _registry(config, data_dir) as reg:
        if account is None and not clear:
            if reg.dwelling(dwelling) is None:
                raise _fail(f"no dwelling {dwelling!r}")
            print(reg.alarm_centre_account(dwelling) or "not set")
            return
        reg.set_alarm_centre_account(dwelling, account)
        stored = reg.alarm_centre_account(dwelling)
    print(f"alarm-centre account of {dwelling}: {stored or 'none'}")


@centre_app.command("zone")
def centre_zone(
    dwelling: DwellingArg,
    sensor: Annotated[str, typer.Argument(help="The sensor's id.")],
    zone: Annotated[int, typer.Argument(help="The DC-09 zone, 1-999.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Give a sensor its zone at the alarm centre (unset: zone 0, the whole dwelling)."""
    with _registry(config, data_dir) as reg:
        reg.set_zone(dwelling, sensor, zone)
    print(f"zone of {sensor} in {dwelling}: {zone:03}")


@centre_app.command("show")
def centre_show(
    dwelling: DwellingArg,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show the dwelling's account and sensor zones."""
    with _registry(config, data_dir) as reg:
        if reg.dwelling(dwelling) is None:
            raise _fail(f"no dwelling {dwelling!r}")
        print(f"account\t{reg.alarm_centre_account(dwelling) or 'not set'}")
        for sensor, zone in reg.zones(dwelling).items():
            print(f"{zone:03}\t{sensor}")


# -- operators -------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@operator_app.command("add")
def operator_add(
    username: str,
    role: Annotated[
        str, typer.Option(help="operator, coordinator (also edits residents' cards) or admin.")
    ] = "operator",
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


# -- residents' cards and the audit trail ---------------------------------------------

# Where a card's field comes from on the command line (else `--` and the field's name).
_OPTION = {
    "institution_patient_id": "--institution-id",
    "on_oxygen": "--oxygen",
    "key_safe_code": "the key-safe code",
    "care_notes": "--file",
}


def _cli_actor() -> Actor:
    """Who runs `mz admin`, for the audit trail: the real uid's user (not $USER, which
    anyone can set), and who called sudo."""
    import os
    import pwd

    from hub.context import Actor

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    caller = os.environ.get("SUDO_USER")
    name = f"{user} (sudo: {caller})" if caller and caller != user else user
    return Actor(name[:64], "admin", "cli")


def _update(
    config: Path | None,
    data_dir: Path | None,
    dwelling: str,
    changes: dict[str, object],
    done: str,
) -> None:
    """Change the card as `mz admin` (an admin, source cli) and print `done`; a bad value
    names its option."""
    import time

    from hub.errors import InvalidValue

    with _registry(config, data_dir) as reg:
        try:
            reg.update_resident(dwelling, changes, _cli_actor(), time.time())
        except InvalidValue as exc:
            option = _OPTION.get(exc.field, "--" + exc.field.replace("_", "-"))
            raise _fail(f"{option}: {exc.reason}") from None
    print(done)


def _reveal(
    config: Path | None,
    data_dir: Path | None,
    dwelling: str,
    what: Literal["key-safe code", "care notes"],
    reason: str,
) -> None:
    """Print the key-safe code or the care notes (the registry audits the read, as
    `mz admin`); exit 1 when none is stored."""
    import time

    with _registry(config, data_dir) as reg:
        read = reg.reveal_key_safe if what == "key-safe code" else reg.reveal_care_notes
        secret = read(dwelling, _cli_actor(), time.time(), reason=reason)
    if not secret:
        print(f"mz admin: no {what} stored for {dwelling}", file=sys.stderr)
        raise typer.Exit(1)
    print(secret)


@resident_app.command("show")
def resident_show(
    dwelling: DwellingArg,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show the resident card and the contacts in routing order (no secrets: only
    whether a key-safe code and care notes are stored)."""
    from hub.resident_card import call_list

    with _registry(config, data_dir) as reg:
        card = reg.resident_card(dwelling)
        if card is None:
            raise _fail(f"no dwelling {dwelling!r}")
        d = reg.dwelling(dwelling)
        callees = call_list(reg.policy(dwelling), reg.contacts_for(dwelling))
    scale = f"{card.news2_scale}" + (", on oxygen" if card.on_oxygen else ", air")
    born = card.date_of_birth.isoformat() if card.date_of_birth else ""
    gp = ", ".join(filter(None, [card.gp_name, card.gp_phone or ""]))
    rows = [
        ("name", card.name),
        ("first name", card.first_name),
        ("date of birth", born),
        ("address", card.address),
        ("access", card.access.replace("\n", " / ")),
        ("GP", gp),
        ("phone", card.phone or ""),
        ("NEWS2 SpO2 scale", scale),
        ("institution id", card.institution_patient_id or ""),
        (
            "key-safe code",
            "stored (resident key-safe shows it, audited)" if card.has_key_safe else "none",
        ),
        (
            "care notes",
            "stored (resident notes shows them, audited)" if card.has_care_notes else "none",
        ),
    ]
    if card.updated_at is not None:
        rows.append(("last change", f"{_utc(card.updated_at)} UTC by {card.updated_by}"))
    print(f"Resident card of {dwelling} ({d.label if d else dwelling})")
    for label, value in rows:
        print(f"{label:<18}{value or '-'}")
    print("Contacts, in routing order:")
    if not callees:
        print("  none")
    for c in callees:
        step = f"{c.step}." if c.step is not None else "-"
        wait = _duration(c.wait_s) if c.wait_s is not None else "not asked"
        also = c.installer and c.contact.role != "installer"
        role = c.contact.role + (", installer" if also else "")
        phone = c.contact.phone or "no phone"
        print(f"  {step:<4}{c.contact.name} ({role})\t{phone}\t{wait}\t{c.contact.id}")


@resident_app.command("set")
def resident_set(
    dwelling: DwellingArg,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    first_name: Annotated[str | None, typer.Option(help="For greetings.")] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="YYYY-MM-DD ('' removes it).")] = None,
    address: Annotated[str | None, typer.Option(help="The dwelling's street address.")] = None,
    access: Annotated[
        str | None, typer.Option(help="How to get in: door, where the key safe is, a dog.")
    ] = None,
    gp_name: Annotated[str | None, typer.Option(help="The GP (huisarts) or practice.")] = None,
    gp_phone: Annotated[str | None, typer.Option(help="The GP's phone ('' removes it).")] = None,
    phone: Annotated[str | None, typer.Option(help="The resident's own phone.")] = None,
    news2_scale: Annotated[
        int | None, typer.Option(help="The care plan's SpO2 scale: 1, or 2 when prescribed.")
    ] = None,
    oxygen: Annotated[
        bool | None, typer.Option("--oxygen/--no-oxygen", help="On supplemental oxygen.")
    ] = None,
    institution_id: Annotated[
        str | None, typer.Option(help="The care organisation's patient id ('' removes it).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Change the resident card: only the options given change (audited). The key-safe
    code and the care notes have commands of their own."""
    given = {
        "name": name,
        "first_name": first_name,
        "date_of_birth": date_of_birth,
        "address": address,
        "access": access,
        "gp_name": gp_name,
        "gp_phone": gp_phone,
        "phone": phone,
        "news2_scale": news2_scale,
        "on_oxygen": oxygen,
        "institution_patient_id": institution_id,
    }
    changes: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise _fail("nothing to change: give at least one option (see --help)")
    done = f"resident card of {dwelling} updated: {', '.join(changes)}"
    _update(config, data_dir, dwelling, changes, done)


@resident_app.command("key-safe")
def resident_key_safe(
    dwelling: DwellingArg,
    reason: ReasonOpt = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Print the key-safe code (the read is audited, with you as the OS user)."""
    _reveal(config, data_dir, dwelling, "key-safe code", reason)


@resident_app.command("set-key-safe")
def resident_set_key_safe(
    dwelling: DwellingArg,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the code from stdin.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored code.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Store the key-safe code, prompted for (twice) or read from stdin: never from the
    command line (audited, without the code)."""
    if clear and stdin:
        raise _fail("--stdin and --clear exclude each other")
    if clear:
        code = ""
    elif stdin:
        code = sys.stdin.readline().strip()
    else:
        code = str(typer.prompt("Key-safe code", hide_input=True, confirmation_prompt=True))
    if not clear and not code.strip():
        raise _fail("no code given (--clear removes the stored one)")
    done = f"key-safe code of {dwelling} {'removed' if clear else 'stored'}"
    _update(config, data_dir, dwelling, {"key_safe_code": code}, done)


@resident_app.command("notes")
def resident_notes(
    dwelling: DwellingArg,
    reason: ReasonOpt = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Print the care notes (medical; the read is audited, with you as the OS user)."""
    _reveal(config, data_dir, dwelling, "care notes", reason)


@resident_app.command("set-notes")
def resident_set_notes(
    dwelling: DwellingArg,
    file: Annotated[
        str, typer.Option("--file", help="A UTF-8 text file with the notes; '-' reads stdin.")
    ],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Replace the care notes (at most 2000 characters; an empty file removes them).
    Keep them to what an operator needs in an emergency: allergies, blood thinners,
    oxygen, hearing, dementia (audited, without the text)."""
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"--file: cannot read {file}: {exc}") from None
    done = f"care notes of {dwelling} {'stored' if text.strip() else 'removed'}"
    _update(config, data_dir, dwelling, {"care_notes": text}, done)


@app.command("audit")
def audit_show(
    dwelling: Annotated[str | None, typer.Option(help="Only this dwelling.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only from then: 7d, 12h, 30m, or a date YYYY-MM-DD (UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (1-10000).")] = 100,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The audit trail, newest first (UTC): who read a key-safe code or care notes, who
    changed a resident card."""
    import time

    start = None if since is None else _since(since, time.time())
    with _registry(config, data_dir) as reg:
        entries = reg.audit_log(dwelling, start, limit)
    for e in entries:
        print(
            f"{_utc(e.at)}\t{e.actor}\t{e.role}\t{e.source}\t{e.action}\t{e.dwelling or '-'}"
            f"\t{e.detail}"
        )


def _since(spec: str, now: float) -> float:
    """`7d`, `12h`, `30m` before `now`, or the start of a date (UTC)."""
    import re
    from datetime import UTC, datetime

    units = {"m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"([0-9]{1,5})([mhd])", spec.strip())
    if match:
        return now - int(match.group(1)) * units[match.group(2)]
    try:
        day = datetime.strptime(spec.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise _fail(f"--since: not a period or date {spec!r} (e.g. 7d, 12h, 2026-01-31)") from None
    return day.timestamp()


@app.command("dead-letters")
def dead_letters_show(
    limit: Annotated[int, typer.Option(help="At most this many (1-10000).", min=1, max=10000)] = 50,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Messages parked after failing again and again while the stores were up (a bug or a
    poison message), newest first (UTC): key, topic, attempts, when, the last error."""
    from sqlalchemy.exc import SQLAlchemyError

    from hub.dead_letters import DeadLetters
    from hub.errors import ConfigError
    from hub.sql.schema import open_store

    try:
        engine = open_store(_sql_url(config, data_dir))
    except (ConfigError, SQLAlchemyError) as exc:
        raise _fail(f"cannot open the operational store: {exc}") from None
    try:
        letters = DeadLetters(engine).parked(limit)
    finally:
        engine.dispose()
    if not letters:
        print("no parked messages")
    for d in letters:
        assert d.parked_at is not None
        print(f"{_utc(d.parked_at)}\t{d.key}\t{d.topic}\t{d.attempts}\t{d.error[:200]}")
