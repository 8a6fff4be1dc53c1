"""The hub's registry: dwellings, their contacts (mantelzorgers) and console operators.

The only place that links pseudonymous dwelling ids to people and addresses. SQLite
in WAL mode, shared by the running hub and `mz admin` (another process). Thread-safe:
the console may call it from uvicorn's worker threads.

It also keeps the console's sessions: in this file, so that every hub process and
`mz admin` see a logout, a removed or disabled operator or a changed password at once;
and, for the mantelzorger's page, contacts' own logins and sessions (hub.family_access).

And each dwelling's routing: its escalation policy (alerts.routing.Policy: ordered
contacts with their waits, when the alarm centre takes over, the installer), its account
at the alarm centre (SIA DC-09) and the DC-09 zone of each of its sensors.

And the resident card (hub.context.ResidentCard, fields in hub.resident_card) with its two
secrets, the key-safe code and the care notes, and the audit trail: every read of a
secret writes its audit row in the same transaction, before the secret is returned (no
row, no secret); every change of a card is audited with the fields it changed, never a
secret's value. Only coordinators and admins change a card.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from alerts.model import CONTACT_ROLES, Contact
from alerts.routing import Policy, Recipient, default_policy, format_window, parse_window
from hub import resident_card
from hub.context import Actor, AuditEntry, ConsoleSession, Dwelling, Operator, ResidentCard
from hub.errors import AuditFailed, Conflict, Forbidden, InvalidValue, NotFound, RegistryError
from hub.family_access import FamilyAccess
from hub.resident_card import PHONE as _PHONE
from hub.session_store import SessionTable, session_key
from hub.sql.engine import Synchronous, is_sqlite, reading, writing
from hub.sql.positional import counting, fetch, run, run_many
from sensors.contract import is_pseudo_id

# A coordinator (zorgcoördinator) is an operator who also keeps the residents' cards.
ROLES: Final = ("operator", "coordinator", "admin")
LANGUAGES: Final = ("nl", "en")
# scrypt cost: n=2**14, r=8 -> 16 MiB and ~50 ms per check; the OWASP minimum for scrypt.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SCRYPT_LEN: Final = 32
MIN_PASSWORD_LEN: Final = 10
LOOKUP_CHUNK: Final = 500  # ids asked about in one query at most
# SIA DC-09 account numbers: 3-16 hex digits (stored upper-case).
_ACCOUNT: Final = re.compile(r"[0-9A-Fa-f]{3,16}")
# Contact ID zones are three decimal digits; 000 means "no zone" (the system itself).
MAX_ZONE: Final = 999
# Audit actions and sources: short lower-case tokens (resident.key_safe.view, console).
_ACTION: Final = re.compile(r"[a-z][a-z0-9_.-]{1,63}")
_SOURCE: Final = re.compile(r"[a-z][a-z0-9_-]{1,31}")
MAX_AUDIT_DETAIL: Final = 500
MAX_AUDIT_LIMIT: Final = 10_000

# The card's columns as ResidentCard wants them (after dwelling), and where each
# resident_card field is stored (the two secrets under other names; the address in
# dwellings).
_CARD_SELECT: Final = (
    "COALESCE(r.name, ''), COALESCE(r.first_name, ''), r.date_of_birth, d.address,"
    " COALESCE(r.access, ''), COALESCE(r.gp_name, ''), r.gp_phone, r.phone,"
    " COALESCE(r.news2_scale, 1), COALESCE(r.on_oxygen, 0), r.institution_patient_id,"
    " CASE WHEN r.key_safe != '' THEN 1 ELSE 0 END,"
    " CASE WHEN r.care_notes != '' THEN 1 ELSE 0 END, r.updated_at,"
    " r.updated_by"
)
_COLUMN: Final = {"key_safe_code": "key_safe"}

_CONTACT_COLUMNS: Final = (
    "id, dwelling, name, email, language, priority, link_key, phone, channels, role, windows"
)
_CONTACT_MARKS: Final = ", ".join("?" * len(_CONTACT_COLUMNS.split(",")))
# Checks a channel string further (e.g. that apprise can parse the URL); raises
# ValueError saying what is wrong. The registry's own check is only `_check_channels`.
ChannelCheck = Callable[[str], None]


_SESSIONS: Final = SessionTable("sessions", owner="username")  # hub.session_store


def new_link_key() -> str:
    """128 random bits, hex."""
    return secrets.token_hex(16)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (hex), with a fresh random salt unless one is given."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_SCRYPT_LEN
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


# Checked against when the username is unknown, so the answer takes as long either way
# and does not reveal which usernames exist.
_DUMMY_HASH: Final = hash_password("not-a-password", salt=b"\0" * 16)


class Registry(FamilyAccess):
    """Implements hub.context.Registry and the alarm service's ContactDirectory, on the
    operational store's engine (hub.sql.schema.open_store: its tables in
    hub.registry_tables). Thread-safe: the console calls it from uvicorn's worker threads.

    Several hub workers and `mz admin` share the store: what must stay unique is a
    constraint, a read followed by a write locks the rows it read (FOR UPDATE on
    PostgreSQL; SQLite's BEGIN IMMEDIATE takes the one write lock anyway).

    `default_wait_s`: how long each contact of a dwelling without a routing policy of its
    own is given to take an alarm on before the next is asked. `channel_check`: a deeper
    check of each contact channel (see ChannelCheck), on top of the registry's own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        default_wait_s: float = 120.0,
        channel_check: ChannelCheck | None = None,
    ) -> None:
        if not math.isfinite(default_wait_s) or default_wait_s < 0:
            raise ValueError(f"default_wait_s must be finite and >= 0, not {default_wait_s!r}")
        self.default_wait_s = default_wait_s
        self._channel_check = channel_check
        self._engine = engine
        self._owns_engine = False

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- dwellings ---------------------------------------------------------------

    def add_dwelling(self, dwelling: Dwelling) -> None:
        self.add_dwellings([dwelling])

    def add_dwellings(self, dwellings: Sequence[Dwelling]) -> None:
        """Register `dwellings` in one transaction: all of them, or (a bad or existing one,
        named in the error) none."""
        for dwelling in dwellings:
            if not is_pseudo_id(dwelling.id):
                raise RegistryError(
                    f"dwelling id {dwelling.id!r} is not pseudonymous: lower-case letters,"
                    " digits, '-' and '_', 2-64 characters"
                )
            _check_language(dwelling.language)
            if not dwelling.label.strip():
                raise RegistryError(f"dwelling {dwelling.id} needs a label")
        with writing(self._engine) as conn:
            for dwelling in dwellings:
                try:
                    run(
                        conn,
                        "INSERT INTO dwellings (id, label, address, language) VALUES (?, ?, ?, ?)",
                        (dwelling.id, dwelling.label, dwelling.address, dwelling.language),
                    )
                except IntegrityError as exc:
                    raise Conflict(f"dwelling {dwelling.id} already exists") from exc

    def dwellings(self) -> list[Dwelling]:
        rows = self._rows("SELECT id, label, address, language FROM dwellings ORDER BY id", ())
        return [Dwelling(*r) for r in rows]

    def dwelling(self, dwelling_id: str) -> Dwelling | None:
        rows = self._rows(
            "SELECT id, label, address, language FROM dwellings WHERE id = ?", (dwelling_id,)
        )
        return Dwelling(*rows[0]) if rows else None

    def registered(self, dwelling_ids: Collection[str]) -> set[str]:
        ids = sorted(set(dwelling_ids))
        out: set[str] = set()
        for i in range(0, len(ids), LOOKUP_CHUNK):
            part = ids[i : i + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(part))
            out.update(
                r[0] for r in self._rows(f"SELECT id FROM dwellings WHERE id IN ({marks})", part)
            )
        return out

    def remove_dwelling(
        self, dwelling_id: str, *, open_alarms: int = 0, force: bool = False
    ) -> None:
        """Remove a dwelling and its contacts.

        `open_alarms` comes from the alarm service (another store); with open alarms
        the removal is refused unless `force`, so nobody silently loses a live alarm.
        """
        if open_alarms and not force:
            raise Conflict(
                f"dwelling {dwelling_id} has {open_alarms} open alarm(s); resolve them or force"
            )
        if self._exec("DELETE FROM dwellings WHERE id = ?", (dwelling_id,)) == 0:
            raise NotFound("dwelling", dwelling_id)

    # -- contacts ----------------------------------------------------------------

    def add_contact(self, contact: Contact) -> Contact:
        """Add `contact` with a fresh random link key (any given one is ignored), so links
        mailed to an earlier contact with the same id never work for this one."""
        if self.dwelling(contact.dwelling) is None:
            raise NotFound("dwelling", contact.dwelling)
        self._check_contact(contact)
        link_key = new_link_key()
        try:
            self._exec(
                f"INSERT INTO contacts ({_CONTACT_COLUMNS}) VALUES ({_CONTACT_MARKS})",
                (contact.id, contact.dwelling, *_contact_values(contact, link_key)),
            )
        except IntegrityError as exc:
            if self.dwelling(contact.dwelling) is None:  # removed meanwhile
                raise NotFound("dwelling", contact.dwelling) from exc
            raise Conflict(f"contact {contact.id} already exists") from exc
        return replace(contact, link_key=link_key)

    def update_contact(self, contact: Contact) -> Contact:
        """Replace everything of the stored contact `contact.id` by `contact` (returned
        with its link key), except its dwelling, which cannot change (remove the contact
        and add it to the other dwelling).

        The link key is kept, unless the e-mail address, phone or channels changed: then
        it is new, and links sent to where the contact no longer is stop working."""
        self._check_contact(contact)
        with writing(self._engine) as conn:
            rows = fetch(
                conn,
                f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE id = ?" + _for_update(conn),
                (contact.id,),
            )
            if not rows:
                raise NotFound("contact", contact.id)
            old = _contact(rows[0])
            if old.dwelling != contact.dwelling:
                raise RegistryError(
                    f"contact {contact.id} belongs to dwelling {old.dwelling}; remove it and"
                    f" add it to {contact.dwelling} instead"
                )
            moved = (old.email, old.phone, old.targets) != (
                contact.email,
                contact.phone,
                contact.targets,
            )
            link_key = new_link_key() if moved else old.link_key
            run(
                conn,
                "UPDATE contacts SET name = ?, email = ?, language = ?, priority = ?,"
                " link_key = ?, phone = ?, channels = ?, role = ?, windows = ? WHERE id = ?",
                (*_contact_values(contact, link_key), contact.id),
            )
        return replace(contact, link_key=link_key)

    def contact(self, contact_id: str) -> Contact | None:
        rows = self._rows(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE id = ?", (contact_id,))
        return _contact(rows[0]) if rows else None

    def contacts_for(self, dwelling_id: str) -> list[Contact]:
        rows = self._rows(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE dwelling = ? ORDER BY priority, id",
            (dwelling_id,),
        )
        return [_contact(r) for r in rows]

    def contacts(self) -> list[Contact]:
        rows = self._rows(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts ORDER BY dwelling, priority, id", ()
        )
        return [_contact(r) for r in rows]

    def _contacts_where(self, where: str, args: Sequence[object]) -> list[Contact]:
        rows = self._rows(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE {where}"
            " ORDER BY dwelling, priority, id",
            args,
        )
        return [_contact(r) for r in rows]

    def _check_contact(self, contact: Contact) -> None:
        _check_language(contact.language)
        if not contact.name.strip():
            raise RegistryError("a contact needs a name")
        if contact.email is not None and "@" not in contact.email:
            raise RegistryError(f"not an e-mail address: {contact.email!r}")
        if contact.phone is not None and not _PHONE.fullmatch(contact.phone):
            raise RegistryError(
                f"not a phone number: {contact.phone!r} (digits, spaces, '-', an optional '+')"
            )
        if contact.role not in CONTACT_ROLES:
            raise RegistryError(f"role must be one of {', '.join(CONTACT_ROLES)}")
        _check_channels(contact.channels)
        if self._channel_check is not None:
            for channel in contact.channels:
                try:
                    self._channel_check(channel)
                except ValueError as exc:
                    raise RegistryError(f"channel {channel!r}: {exc}") from exc

    def remove_contact(self, contact_id: str) -> None:
        """Remove a contact; it leaves its dwelling's routing policy (and is its installer
        no more)."""
        if self._exec("DELETE FROM contacts WHERE id = ?", (contact_id,)) == 0:
            raise NotFound("contact", contact_id)

    # -- routing -----------------------------------------------------------------

    def policy(self, dwelling_id: str) -> Policy:
        """The dwelling's routing policy: the stored one, each recipient with its
        contact's windows, or else the default: its contacts in priority order, each given
        `default_wait_s` (see alerts.routing.default_policy).

        The installer is the stored one, else the dwelling's first contact whose role is
        "installer". An unknown dwelling has a policy without recipients (the centre at
        once)."""
        with reading(self._engine) as conn:
            contacts = [
                _contact(r)
                for r in run(
                    conn,
                    f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE dwelling = ?"
                    " ORDER BY priority, id",
                    (dwelling_id,),
                )
            ]
            stored = fetch(
                conn,
                "SELECT centre_after_s, installer FROM routing WHERE dwelling = ?",
                (dwelling_id,),
            )
            steps = fetch(
                conn,
                "SELECT contact, wait_s FROM routing_steps WHERE dwelling = ? ORDER BY position",
                (dwelling_id,),
            )
        if not stored:
            return default_policy(contacts, self.default_wait_s)
        by_id = {c.id: c for c in contacts}
        centre_after_s, installer = stored[0]
        if installer not in by_id:
            installer = next((c.id for c in contacts if c.role == "installer"), None)
        return Policy(
            # Only the dwelling's current contacts (removed ones left by cascade already).
            recipients=tuple(
                Recipient(cid, wait_s, by_id[cid].windows) for cid, wait_s in steps if cid in by_id
            ),
            centre_after_s=centre_after_s,
            installer=installer,
        )

    def set_policy(
        self,
        dwelling_id: str,
        order: Sequence[tuple[str, float]],
        *,
        centre_after_s: float | None = None,
        installer: str | None = None,
    ) -> Policy:
        """Store the dwelling's routing policy: `order` is (contact id, wait_s) in the
        order they are asked; `centre_after_s` caps the time to the alarm centre (None:
        right after the last wait); `installer` is told of technical alarms (None: the
        dwelling's first contact whose role is "installer"). Every contact must be the
        dwelling's. Returns the policy as `policy` now gives it."""
        try:
            recipients = tuple(Recipient(cid, float(wait_s)) for cid, wait_s in order)
            Policy(recipients, centre_after_s, installer)  # its own checks (duplicates...)
        except ValueError as exc:
            raise RegistryError(str(exc)) from exc
        with writing(self._engine) as conn:
            # The dwelling's row locked: one policy change at a time per dwelling.
            if not fetch(
                conn, "SELECT 1 FROM dwellings WHERE id = ?" + _for_update(conn), (dwelling_id,)
            ):
                raise NotFound("dwelling", dwelling_id)
            theirs = {
                r[0]
                for r in run(conn, "SELECT id FROM contacts WHERE dwelling = ?", (dwelling_id,))
            }
            for cid in [r.contact_id for r in recipients] + [installer] * (installer is not None):
                if cid not in theirs:
                    raise RegistryError(f"{cid!r} is not a contact of dwelling {dwelling_id}")
            run(conn, "DELETE FROM routing WHERE dwelling = ?", (dwelling_id,))
            run(
                conn,
                "INSERT INTO routing (dwelling, centre_after_s, installer) VALUES (?, ?, ?)",
                (dwelling_id, centre_after_s, installer),
            )
            try:
                run_many(
                    conn,
                    "INSERT INTO routing_steps (dwelling, position, contact, wait_s)"
                    " VALUES (?, ?, ?, ?)",
                    [(dwelling_id, i, r.contact_id, r.wait_s) for i, r in enumerate(recipients)],
                )
            except IntegrityError as exc:  # a contact removed by another process meanwhile
                raise RegistryError(f"a contact of dwelling {dwelling_id} is gone") from exc
        return self.policy(dwelling_id)

    def reset_policy(self, dwelling_id: str) -> bool:
        """Forget the dwelling's own policy: it has the default one again. Returns whether
        it had one of its own."""
        if self.dwelling(dwelling_id) is None:
            raise NotFound("dwelling", dwelling_id)
        return self._exec("DELETE FROM routing WHERE dwelling = ?", (dwelling_id,)) > 0

    def has_own_policy(self, dwelling_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM routing WHERE dwelling = ?", (dwelling_id,)))

    # -- the alarm centre (SIA DC-09) --------------------------------------------

    def alarm_centre_account(self, dwelling_id: str) -> str | None:
        """The dwelling's account at the alarm centre (hex digits, upper-case), if any."""
        rows = self._rows(
            "SELECT account FROM alarm_centre_accounts WHERE dwelling = ?", (dwelling_id,)
        )
        return str(rows[0][0]) if rows else None

    def set_alarm_centre_account(self, dwelling_id: str, account: str | None) -> None:
        """Set (None: clear) the dwelling's DC-09 account: 3-16 hex digits, stored
        upper-case, no two dwellings with the same one."""
        if self.dwelling(dwelling_id) is None:
            raise NotFound("dwelling", dwelling_id)
        if account is None:
            self._exec("DELETE FROM alarm_centre_accounts WHERE dwelling = ?", (dwelling_id,))
            return
        if not _ACCOUNT.fullmatch(account):
            raise RegistryError(
                f"not an alarm-centre account: {account!r} (SIA DC-09: 3-16 hex digits)"
            )
        try:
            self._exec(
                "INSERT INTO alarm_centre_accounts (dwelling, account) VALUES (?, ?)"
                " ON CONFLICT (dwelling) DO UPDATE SET account = excluded.account",
                (dwelling_id, account.upper()),
            )
        except IntegrityError as exc:
            raise Conflict(f"account {account.upper()} is another dwelling's") from exc

    def zone(self, dwelling_id: str, sensor_id: str) -> int:
        """The DC-09 zone of a sensor of the dwelling: the stored one, else 0 (Contact
        ID's "no zone": the event is reported for the dwelling as a whole)."""
        rows = self._rows(
            "SELECT zone FROM sensor_zones WHERE dwelling = ? AND sensor = ?",
            (dwelling_id, sensor_id),
        )
        return int(rows[0][0]) if rows else 0

    def zones(self, dwelling_id: str) -> dict[str, int]:
        """The dwelling's stored zones, sensor id -> zone."""
        rows = self._rows(
            "SELECT sensor, zone FROM sensor_zones WHERE dwelling = ? ORDER BY zone",
            (dwelling_id,),
        )
        return {str(s): int(z) for s, z in rows}

    def set_zone(self, dwelling_id: str, sensor_id: str, zone: int) -> None:
        """Give a sensor of the dwelling its DC-09 zone (1-999, one sensor per zone)."""
        if self.dwelling(dwelling_id) is None:
            raise NotFound("dwelling", dwelling_id)
        if not is_pseudo_id(sensor_id):
            raise RegistryError(f"not a sensor id: {sensor_id!r}")
        if isinstance(zone, bool) or not isinstance(zone, int) or not 1 <= zone <= MAX_ZONE:
            raise RegistryError(f"a zone is a number 1-{MAX_ZONE}, not {zone!r}")
        try:
            self._exec(
                "INSERT INTO sensor_zones (dwelling, sensor, zone) VALUES (?, ?, ?)"
                " ON CONFLICT (dwelling, sensor) DO UPDATE SET zone = excluded.zone",
                (dwelling_id, sensor_id, zone),
            )
        except IntegrityError as exc:
            raise Conflict(f"zone {zone} of {dwelling_id} is another sensor's") from exc

    # -- the resident card --------------------------------------------------------

    def resident_card(self, dwelling_id: str) -> ResidentCard | None:
        """The dwelling's card without its secrets (empty if nobody filled it in), or None
        for an unknown dwelling."""
        with reading(self._engine) as conn:
            return _card(conn, dwelling_id)

    def reveal_key_safe(
        self, dwelling_id: str, actor: Actor, now: float, *, reason: str = ""
    ) -> str:
        """The dwelling's key-safe code ("" when none is stored), after its audit row
        (action resident.key_safe.view) is committed with it. Raises AuditFailed, and
        returns nothing, when the row cannot be written."""
        return self._reveal(dwelling_id, "key_safe", "resident.key_safe.view", actor, now, reason)

    def reveal_care_notes(
        self, dwelling_id: str, actor: Actor, now: float, *, reason: str = ""
    ) -> str:
        """The resident's care notes ("" when none), audited as reveal_key_safe is
        (action resident.care_notes.view)."""
        return self._reveal(
            dwelling_id, "care_notes", "resident.care_notes.view", actor, now, reason
        )

    def _reveal(
        self, dwelling_id: str, column: str, action: str, actor: Actor, now: float, reason: str
    ) -> str:
        if actor.role not in ROLES:
            raise Forbidden(actor.role, f"see a resident's {column.replace('_', ' ')}")
        _check_actor(actor)
        reason = _audit_detail(reason)
        with self._audited(f"{column.replace('_', ' ')} not shown") as conn:
            if not fetch(conn, "SELECT 1 FROM dwellings WHERE id = ?", (dwelling_id,)):
                raise NotFound("dwelling", dwelling_id)
            rows = fetch(conn, f"SELECT {column} FROM residents WHERE dwelling = ?", (dwelling_id,))
            secret = str(rows[0][0]) if rows else ""
            detail = "; ".join(filter(None, [reason, "" if secret else "none stored"]))
            self._insert_audit(conn, actor, action, dwelling_id, detail, now)
        return secret

    def update_resident(
        self, dwelling_id: str, changes: Mapping[str, object], actor: Actor, now: float
    ) -> ResidentCard:
        """Change the fields named in `changes` (hub.resident_card.FIELDS: the card's, the
        key-safe code, the care notes; None or "" clears one); the others stay. Only a
        coordinator or an admin may (Forbidden otherwise). The change and its audit row
        (resident.update, naming the changed fields, never a secret's value) are one
        transaction. Returns the card as it is now."""
        if actor.role not in resident_card.EDITOR_ROLES:
            raise Forbidden(actor.role, "change a resident card")
        _check_actor(actor)
        today = datetime.fromtimestamp(now, UTC).date()
        new = {name: _stored(value) for name, value in resident_card.clean(changes, today).items()}
        with self._audited("the card is unchanged") as conn:
            # The dwelling's row locked: concurrent edits of one card take turns.
            found = fetch(
                conn,
                "SELECT d.address, r.name, r.first_name, r.date_of_birth, r.access, r.gp_name,"
                " r.gp_phone, r.phone, r.news2_scale, r.on_oxygen, r.institution_patient_id,"
                " r.key_safe, r.care_notes FROM dwellings AS d"
                " LEFT JOIN residents AS r ON r.dwelling = d.id WHERE d.id = ?"
                + _for_update(conn, "d"),
                (dwelling_id,),
            )
            if not found:
                raise NotFound("dwelling", dwelling_id)
            names = ("address", *_RESIDENT_COLUMNS)
            had = {_FIELD.get(n, n): v for n, v in zip(names, found[0], strict=True)}
            if found[0][1] is None:  # no card yet: the defaults
                had.update(_EMPTY_CARD)
            changed = [
                name for name in resident_card.FIELDS if name in new and new[name] != had[name]
            ]
            if changed:
                if "address" in changed:
                    run(
                        conn,
                        "UPDATE dwellings SET address = ? WHERE id = ?",
                        (new["address"], dwelling_id),
                    )
                columns = [_COLUMN.get(n, n) for n in changed if n != "address"]
                run(
                    conn,
                    "INSERT INTO residents (dwelling) VALUES (?) ON CONFLICT (dwelling) DO NOTHING",
                    (dwelling_id,),
                )
                run(
                    conn,
                    "UPDATE residents SET "
                    + "".join(f"{c} = ?, " for c in columns)
                    + "updated_at = ?, updated_by = ? WHERE dwelling = ?",
                    (
                        *(new[n] for n in changed if n != "address"),
                        now,
                        actor.name,
                        dwelling_id,
                    ),
                )
                self._insert_audit(
                    conn,
                    actor,
                    "resident.update",
                    dwelling_id,
                    "changed: " + ", ".join(changed),
                    now,
                )
            card = _card(conn, dwelling_id)
        if card is None:  # cannot be: the dwelling is there in this transaction
            raise NotFound("dwelling", dwelling_id)
        return card

    # -- the audit trail ------------------------------------------------------------

    def audit(
        self,
        actor: Actor,
        action: str,
        now: float,
        *,
        dwelling: str | None = None,
        detail: str = "",
    ) -> None:
        """Record what `actor` did (never a secret's value in `detail`). Raises
        AuditFailed when the row cannot be written."""
        _check_actor(actor)
        detail = _audit_detail(detail)
        with self._audited("not recorded") as conn:
            self._insert_audit(conn, actor, action, dwelling, detail, now)

    def audit_log(
        self, dwelling: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The newest `limit` audit rows (1-10000), newest first; only `dwelling`'s, only
        from `since` (UNIX s) on, if given."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidValue("limit", f"a whole number, not {limit!r}")
        if not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise InvalidValue("limit", f"1-{MAX_AUDIT_LIMIT}, not {limit}")
        where: list[str] = []
        args: list[object] = []
        if dwelling is not None:
            where.append("dwelling = ?")
            args.append(dwelling)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        rows = self._rows(
            "SELECT seq, at, actor, role, action, dwelling, detail, source FROM audit"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY at DESC, seq DESC LIMIT ?",
            (*args, limit),
        )
        return [AuditEntry(*r) for r in rows]

    def _insert_audit(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        dwelling: str | None,
        detail: str,
        now: float,
    ) -> None:
        """Inside the caller's transaction."""
        if not _ACTION.fullmatch(action):
            raise RegistryError(f"not an audit action: {action!r}")
        if not math.isfinite(now):
            raise RegistryError(f"not a time: {now!r}")
        run(
            conn,
            "INSERT INTO audit (at, actor, role, action, dwelling, detail, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, actor.name, actor.role, action, dwelling, detail, actor.source),
        )

    @contextmanager
    def _audited(self, consequence: str) -> Iterator[Connection]:
        """A write transaction whose database errors (the audit row not written, the
        commit failed) are AuditFailed: rolled back, nothing returned or changed."""
        try:
            with writing(self._engine) as conn:
                yield conn
        except DBAPIError as exc:
            raise AuditFailed(f"the audit trail cannot be written, {consequence}: {exc}") from exc

    # -- operators ---------------------------------------------------------------

    def add_operator(self, operator: Operator, password: str) -> None:
        if operator.role not in ROLES:
            raise RegistryError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_LEN:
            raise RegistryError(f"password shorter than {MIN_PASSWORD_LEN} characters")
        if not operator.username or len(operator.username) > 64:
            raise RegistryError("username must have 1-64 characters")
        pw_hash = hash_password(password)
        try:
            self._exec(
                "INSERT INTO operators (username, role, display_name, password_hash)"
                " VALUES (?, ?, ?, ?)",
                (operator.username, operator.role, operator.display_name, pw_hash),
            )
        except IntegrityError as exc:
            raise Conflict(f"operator {operator.username} already exists") from exc

    def operators(self) -> list[Operator]:
        rows = self._rows(
            "SELECT username, role, display_name, enabled FROM operators ORDER BY username", ()
        )
        return [Operator(u, r, d, bool(e)) for u, r, d, e in rows]

    def operator(self, username: str) -> Operator | None:
        rows = self._rows(
            "SELECT username, role, display_name, enabled FROM operators WHERE username = ?",
            (username,),
        )
        return Operator(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3])) if rows else None

    def remove_operator(self, username: str) -> int:
        """Remove the operator and end their sessions; returns how many were ended."""
        with writing(self._engine) as conn:
            ended = run(conn, "DELETE FROM sessions WHERE username = ?", (username,)).rowcount
            if run(conn, "DELETE FROM operators WHERE username = ?", (username,)).rowcount == 0:
                raise NotFound("operator", username)
        return ended

    def set_enabled(self, username: str, enabled: bool) -> int:
        """Enable or disable an operator; disabling ends their sessions (returns how many)."""
        with writing(self._engine) as conn:
            if (
                run(
                    conn,
                    "UPDATE operators SET enabled = ? WHERE username = ?",
                    (int(enabled), username),
                ).rowcount
                == 0
            ):
                raise NotFound("operator", username)
            if enabled:
                return 0
            return run(conn, "DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def set_password(self, username: str, password: str) -> int:
        """A new password; ends every session of the operator (returns how many)."""
        if len(password) < MIN_PASSWORD_LEN:
            raise RegistryError(f"password shorter than {MIN_PASSWORD_LEN} characters")
        pw_hash = hash_password(password)
        with writing(self._engine) as conn:
            if (
                run(
                    conn,
                    "UPDATE operators SET password_hash = ? WHERE username = ?",
                    (pw_hash, username),
                ).rowcount
                == 0
            ):
                raise NotFound("operator", username)
            return run(conn, "DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def verify_operator(self, username: str, password: str) -> Operator | None:
        """The operator if the password is theirs and they are enabled. A disabled or
        unknown user costs a password check all the same (no timing difference)."""
        rows = self._rows(
            "SELECT username, role, display_name, password_hash, enabled FROM operators"
            " WHERE username = ?",
            (username,),
        )
        if not rows:
            check_password(password, _DUMMY_HASH)
            return None
        user, role, display_name, stored, enabled = rows[0]
        if not check_password(password, stored) or not enabled:
            return None
        return Operator(user, role, display_name)

    # -- console sessions --------------------------------------------------------

    def create_session(
        self,
        username: str,
        now: float,
        *,
        max_age_s: float,
        idle_s: float,
        language: str | None = None,
    ) -> tuple[str, ConsoleSession]:
        """A new session for an enabled operator: (its id, for the cookie; the session).

        Also forgets sessions that have expired, so the table stays small."""
        new = _SESSIONS.new(now, max_age_s=max_age_s, idle_s=idle_s)
        with writing(self._engine) as conn:
            # Locked: a concurrent disable (which ends the sessions) waits, or comes first.
            rows = fetch(
                conn,
                "SELECT username, role, display_name, enabled FROM operators WHERE username = ?"
                + _for_update(conn),
                (username,),
            )
            if not rows or not rows[0][3]:
                raise NotFound("operator", username)
            _SESSIONS.insert(counting(conn), new, language, {"username": username})
        op = Operator(rows[0][0], rows[0][1], rows[0][2])
        session = ConsoleSession(
            op, new.csrf, now, now, new.expires_at, new.idle_expires_at, language
        )
        return new.id, session

    def session(self, session_id: str, now: float, *, idle_s: float) -> ConsoleSession | None:
        """The live session with this id, or None (unknown, expired, operator gone or
        disabled: such a session is deleted). Refreshes its last-seen time, at most once
        per SESSION_TOUCH_S."""
        key = session_key(session_id)
        if key is None:
            return None
        rows = self._rows(
            "SELECT s.csrf, s.created_at, s.last_seen, s.expires_at, s.idle_expires_at,"
            " s.language, o.username, o.role, o.display_name, o.enabled"
            " FROM sessions AS s JOIN operators AS o ON o.username = s.username"
            " WHERE s.id_hash = ?",
            (key,),
        )
        if not rows:
            return None
        csrf, created, last_seen, expires, idle_expires, lang, user, role, name, enabled = rows[0]
        live = _SESSIONS.live(
            self._exec, key, now, last_seen, expires, idle_expires, idle_s=idle_s, valid=enabled
        )
        if live is None:
            return None
        last_seen, idle_expires = live
        return ConsoleSession(
            Operator(user, role, name), csrf, created, last_seen, expires, idle_expires, lang
        )

    def set_session_language(self, session_id: str, language: str) -> None:
        _SESSIONS.set_language(self._exec, session_id, language)

    def end_session(self, session_id: str) -> bool:
        return _SESSIONS.end(self._exec, session_id)

    def end_sessions(self, username: str) -> int:
        """Log an operator out everywhere; returns how many sessions were ended."""
        return _SESSIONS.end_all(self._exec, username)

    def sessions_of(self, username: str, now: float) -> list[ConsoleSession]:
        """The operator's sessions that have not expired, oldest first (no ids: only
        their hashes are stored)."""
        rows = self._rows(
            "SELECT s.csrf, s.created_at, s.last_seen, s.expires_at, s.idle_expires_at,"
            " s.language, o.username, o.role, o.display_name"
            " FROM sessions AS s JOIN operators AS o ON o.username = s.username"
            " WHERE s.username = ? AND s.expires_at > ? AND s.idle_expires_at > ?"
            " ORDER BY s.created_at",
            (username, now, now),
        )
        return [
            ConsoleSession(Operator(u, r, d), c, cr, ls, ex, ie, lang)
            for c, cr, ls, ex, ie, lang, u, r, d in rows
        ]

    def close(self) -> None:
        """Close the engine if this registry opened it (SqliteRegistry); else nothing:
        the engine is its owner's."""
        if self._owns_engine:
            self._engine.dispose()

    # -- helpers -----------------------------------------------------------------

    def _exec(self, sql: str, args: Sequence[object]) -> int:
        with writing(self._engine) as conn:
            return run(conn, sql, args).rowcount

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        with reading(self._engine) as conn:
            return [tuple(r) for r in run(conn, sql, args)]


class SqliteRegistry(Registry):
    """A Registry on the embedded operational store in the SQLite file `path` (brought
    to the current schema), for tools and tests given a file; closed with the registry.
    The hub itself passes its engine to Registry."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous = "NORMAL",
        default_wait_s: float = 120.0,
        channel_check: ChannelCheck | None = None,
    ) -> None:
        from hub.sql.schema import open_store  # imports every table module

        engine = open_store(f"sqlite:///{path.resolve()}", synchronous=synchronous)
        super().__init__(engine, default_wait_s=default_wait_s, channel_check=channel_check)
        self._owns_engine = True


def _for_update(conn: Connection, of: str | None = None) -> str:
    """` FOR UPDATE [OF of]` on PostgreSQL: the rows read stay as read until the
    transaction ends. Nothing on SQLite, whose writer (BEGIN IMMEDIATE) holds the one
    write lock already."""
    if is_sqlite(conn):
        return ""
    return " FOR UPDATE" + (f" OF {of}" if of else "")


def _card(conn: Connection, dwelling_id: str) -> ResidentCard | None:
    rows = fetch(
        conn,
        f"SELECT {_CARD_SELECT} FROM dwellings AS d"
        " LEFT JOIN residents AS r ON r.dwelling = d.id WHERE d.id = ?",
        (dwelling_id,),
    )
    return _card_of(dwelling_id, rows[0]) if rows else None


# residents' columns in the order update_resident reads them (after the address), and the
# resident_card field each holds.
_RESIDENT_COLUMNS: Final = (
    "name",
    "first_name",
    "date_of_birth",
    "access",
    "gp_name",
    "gp_phone",
    "phone",
    "news2_scale",
    "on_oxygen",
    "institution_patient_id",
    "key_safe",
    "care_notes",
)
_FIELD: Final = {column: field for field, column in _COLUMN.items()}
# A card nobody filled in, as stored.
_EMPTY_CARD: Final[dict[str, object]] = {
    **{_FIELD.get(c, c): "" for c in _RESIDENT_COLUMNS},
    "date_of_birth": None,
    "gp_phone": None,
    "phone": None,
    "news2_scale": 1,
    "on_oxygen": 0,
    "institution_patient_id": None,
}


def _stored(value: resident_card.Value) -> object:
    """A cleaned card value as its column holds it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _card_of(dwelling_id: str, row: tuple[Any, ...]) -> ResidentCard:
    name, first, born, address, access, gp, gp_phone, phone, scale, o2, pid, *rest = row
    has_key_safe, has_notes, updated_at, updated_by = rest
    return ResidentCard(
        dwelling=dwelling_id,
        name=name,
        first_name=first,
        date_of_birth=date.fromisoformat(born) if born else None,
        address=address,
        access=access,
        gp_name=gp,
        gp_phone=gp_phone,
        phone=phone,
        news2_scale=int(scale),
        on_oxygen=bool(o2),
        institution_patient_id=pid,
        has_key_safe=bool(has_key_safe),
        has_care_notes=bool(has_notes),
        updated_at=updated_at,
        updated_by=updated_by,
    )


def _check_actor(actor: Actor) -> None:
    if not actor.name or len(actor.name) > 64 or not actor.name.isprintable():
        raise RegistryError("an audited actor needs a name of 1-64 printable characters")
    if not _SOURCE.fullmatch(actor.source):
        raise RegistryError(f"not an audit source: {actor.source!r}")
    if not actor.role or len(actor.role) > 32:
        raise RegistryError(f"not a role: {actor.role!r}")


def _audit_detail(detail: str) -> str:
    detail = detail.strip()
    if len(detail) > MAX_AUDIT_DETAIL or not detail.isprintable():
        raise InvalidValue(
            "detail", f"one line of at most {MAX_AUDIT_DETAIL} characters, no control characters"
        )
    return detail


def _contact_values(contact: Contact, link_key: str) -> tuple[object, ...]:
    """The stored columns after id and dwelling, in _CONTACT_COLUMNS order."""
    return (
        contact.name,
        contact.email,
        contact.language,
        contact.priority,
        link_key,
        contact.phone,
        json.dumps(list(contact.channels)),
        contact.role,
        json.dumps([format_window(w) for w in contact.windows]),
    )


def _contact(row: tuple[Any, ...]) -> Contact:
    cid, dwelling, name, email, language, priority, link_key, phone, channels, role, windows = row
    return Contact(
        cid,
        dwelling,
        name,
        email,
        language,
        priority,
        link_key,
        phone=phone,
        channels=tuple(json.loads(channels)),
        role=role,
        windows=tuple(parse_window(spec) for spec in json.loads(windows)),
    )


def _check_channels(channels: tuple[str, ...]) -> None:
    """Each channel a non-empty string without spaces or control characters (a URL or a
    target name), none twice. Whether apprise can use it is `channel_check`'s job."""
    for channel in channels:
        if not isinstance(channel, str) or not channel or not channel.isprintable():
            raise RegistryError(f"not a channel: {channel!r}")
        if any(ch.isspace() for ch in channel):
            raise RegistryError(f"a channel has no spaces: {channel!r}")
    if len(set(channels)) != len(channels):
        raise RegistryError("a channel is listed twice")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise RegistryError(f"language must be one of {', '.join(LANGUAGES)}")
