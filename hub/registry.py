"""The hub's registry: dwellings, their contacts (mantelzorgers) and console operators.

The only place that links pseudonymous dwelling ids to people and addresses. SQLite
in WAL mode, shared by the running hub and `mz admin` (another process). Thread-safe:
the console may call it from uvicorn's worker threads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any, Final

from alerts.model import Contact
from hub.context import Dwelling, Operator
from hub.db import Synchronous, connect, transaction
from hub.errors import Conflict, NotFound, RegistryError
from sensors.contract import is_pseudo_id

ROLES: Final = ("operator", "admin")
LANGUAGES: Final = ("nl", "en")
# scrypt cost: n=2**14, r=8 -> 16 MiB and ~50 ms per check; the OWASP minimum for scrypt.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SCRYPT_LEN: Final = 32
MIN_PASSWORD_LEN: Final = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dwellings (
    id       TEXT PRIMARY KEY,
    label    TEXT NOT NULL,
    address  TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'nl'
);
CREATE TABLE IF NOT EXISTS contacts (
    id       TEXT PRIMARY KEY,
    dwelling TEXT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    email    TEXT,
    language TEXT NOT NULL DEFAULT 'nl',
    priority INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS contacts_by_dwelling ON contacts (dwelling, priority);
CREATE TABLE IF NOT EXISTS operators (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL
);
"""


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


class SqliteRegistry:
    """Implements hub.context.Registry and the alarm service's ContactDirectory."""

    def __init__(self, path: Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._conn = connect(path, synchronous=synchronous, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    # -- dwellings ---------------------------------------------------------------

    def add_dwelling(self, dwelling: Dwelling) -> None:
        if not is_pseudo_id(dwelling.id):
            raise RegistryError(
                f"dwelling id {dwelling.id!r} is not pseudonymous: lower-case letters, digits,"
                " '-' and '_', 2-64 characters"
            )
        _check_language(dwelling.language)
        if not dwelling.label.strip():
            raise RegistryError("a dwelling needs a label")
        try:
            self._exec(
                "INSERT INTO dwellings (id, label, address, language) VALUES (?, ?, ?, ?)",
                (dwelling.id, dwelling.label, dwelling.address, dwelling.language),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"dwelling {dwelling.id} already exists") from exc

    def dwellings(self) -> list[Dwelling]:
        rows = self._rows("SELECT id, label, address, language FROM dwellings ORDER BY id", ())
        return [Dwelling(*r) for r in rows]

    def dwelling(self, dwelling_id: str) -> Dwelling | None:
        rows = self._rows(
            "SELECT id, label, address, language FROM dwellings WHERE id = ?", (dwelling_id,)
        )
        return Dwelling(*rows[0]) if rows else None

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

    def add_contact(self, contact: Contact) -> None:
        if self.dwelling(contact.dwelling) is None:
            raise NotFound("dwelling", contact.dwelling)
        _check_language(contact.language)
        if contact.email is not None and "@" not in contact.email:
            raise RegistryError(f"not an e-mail address: {contact.email!r}")
        try:
            self._exec(
                "INSERT INTO contacts (id, dwelling, name, email, language, priority)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    contact.id,
                    contact.dwelling,
                    contact.name,
                    contact.email,
                    contact.language,
                    contact.priority,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"contact {contact.id} already exists") from exc

    def contacts_for(self, dwelling_id: str) -> list[Contact]:
        rows = self._rows(
            "SELECT id, dwelling, name, email, language, priority FROM contacts"
            " WHERE dwelling = ? ORDER BY priority, id",
            (dwelling_id,),
        )
        return [Contact(*r) for r in rows]

    def contacts(self) -> list[Contact]:
        rows = self._rows(
            "SELECT id, dwelling, name, email, language, priority FROM contacts"
            " ORDER BY dwelling, priority, id",
            (),
        )
        return [Contact(*r) for r in rows]

    def remove_contact(self, contact_id: str) -> None:
        if self._exec("DELETE FROM contacts WHERE id = ?", (contact_id,)) == 0:
            raise NotFound("contact", contact_id)

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
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"operator {operator.username} already exists") from exc

    def operators(self) -> list[Operator]:
        rows = self._rows(
            "SELECT username, role, display_name FROM operators ORDER BY username", ()
        )
        return [Operator(*r) for r in rows]

    def remove_operator(self, username: str) -> None:
        if self._exec("DELETE FROM operators WHERE username = ?", (username,)) == 0:
            raise NotFound("operator", username)

    def verify_operator(self, username: str, password: str) -> Operator | None:
        rows = self._rows(
            "SELECT username, role, display_name, password_hash FROM operators WHERE username = ?",
            (username,),
        )
        if not rows:
            check_password(password, _DUMMY_HASH)
            return None
        user, role, display_name, stored = rows[0]
        return Operator(user, role, display_name) if check_password(password, stored) else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- helpers -----------------------------------------------------------------

    def _exec(self, sql: str, args: tuple[object, ...]) -> int:
        with self._lock, transaction(self._conn):
            return self._conn.execute(sql, args).rowcount

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise RegistryError(f"language must be one of {', '.join(LANGUAGES)}")
