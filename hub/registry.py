"""The hub's registry: dwellings, their contacts (mantelzorgers) and console operators.

The only place that links pseudonymous dwelling ids to people and addresses. SQLite
in WAL mode, shared by the running hub and `mz admin` (another process). Thread-safe:
the console may call it from uvicorn's worker threads.

It also keeps the console's sessions: in this file, so that every hub process and
`mz admin` see a logout, a removed or disabled operator or a changed password at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from alerts.model import Contact
from hub.context import ConsoleSession, Dwelling, Operator
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
# A session id is secrets.token_urlsafe(32): 256 random bits, 43 characters. Anything
# else in a cookie is not ours and is not looked up.
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_-]{43}")
# A session's last-seen time is written at most this often (not on every request).
SESSION_TOUCH_S: Final = 60.0

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
    priority INTEGER NOT NULL DEFAULT 1,
    link_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS contacts_by_dwelling ON contacts (dwelling, priority);
CREATE TABLE IF NOT EXISTS operators (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1
);
-- The cookie holds a random id; only its SHA-256 is stored here.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash         TEXT PRIMARY KEY,
    username        TEXT NOT NULL REFERENCES operators (username) ON DELETE CASCADE,
    csrf            TEXT NOT NULL,
    created_at      REAL NOT NULL,
    last_seen       REAL NOT NULL,
    expires_at      REAL NOT NULL,
    idle_expires_at REAL NOT NULL,
    language        TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
"""

# Columns added after the first release: a registry file made before gets them on open.
_ADDED_COLUMNS: Final = (
    ("contacts", "link_key", "TEXT NOT NULL DEFAULT ''"),
    ("operators", "enabled", "INTEGER NOT NULL DEFAULT 1"),
)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


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


class SqliteRegistry:
    """Implements hub.context.Registry and the alarm service's ContactDirectory."""

    def __init__(self, path: Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._conn = connect(path, synchronous=synchronous, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns a registry made by an older version lacks; give every contact
        without one a link key. In one transaction: a second process opening the file at
        the same time waits, then finds the columns there."""
        with self._lock, transaction(self._conn):
            for table, column, decl in _ADDED_COLUMNS:
                have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            # randomblob() is evaluated per row: every contact gets its own key.
            self._conn.execute(
                "UPDATE contacts SET link_key = lower(hex(randomblob(16))) WHERE link_key = ''"
            )

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

    def add_contact(self, contact: Contact) -> Contact:
        """Add `contact` with a fresh random link key (any given one is ignored), so links
        mailed to an earlier contact with the same id never work for this one."""
        if self.dwelling(contact.dwelling) is None:
            raise NotFound("dwelling", contact.dwelling)
        _check_language(contact.language)
        if contact.email is not None and "@" not in contact.email:
            raise RegistryError(f"not an e-mail address: {contact.email!r}")
        link_key = new_link_key()
        try:
            self._exec(
                "INSERT INTO contacts (id, dwelling, name, email, language, priority, link_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    contact.id,
                    contact.dwelling,
                    contact.name,
                    contact.email,
                    contact.language,
                    contact.priority,
                    link_key,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"contact {contact.id} already exists") from exc
        return replace(contact, link_key=link_key)

    def contacts_for(self, dwelling_id: str) -> list[Contact]:
        rows = self._rows(
            "SELECT id, dwelling, name, email, language, priority, link_key FROM contacts"
            " WHERE dwelling = ? ORDER BY priority, id",
            (dwelling_id,),
        )
        return [Contact(*r) for r in rows]

    def contacts(self) -> list[Contact]:
        rows = self._rows(
            "SELECT id, dwelling, name, email, language, priority, link_key FROM contacts"
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
        with self._lock, transaction(self._conn):
            ended = self._conn.execute(
                "DELETE FROM sessions WHERE username = ?", (username,)
            ).rowcount
            if (
                self._conn.execute("DELETE FROM operators WHERE username = ?", (username,)).rowcount
                == 0
            ):
                raise NotFound("operator", username)
        return ended

    def set_enabled(self, username: str, enabled: bool) -> int:
        """Enable or disable an operator; disabling ends their sessions (returns how many)."""
        with self._lock, transaction(self._conn):
            if (
                self._conn.execute(
                    "UPDATE operators SET enabled = ? WHERE username = ?", (int(enabled), username)
                ).rowcount
                == 0
            ):
                raise NotFound("operator", username)
            if enabled:
                return 0
            return self._conn.execute(
                "DELETE FROM sessions WHERE username = ?", (username,)
            ).rowcount

    def set_password(self, username: str, password: str) -> int:
        """A new password; ends every session of the operator (returns how many)."""
        if len(password) < MIN_PASSWORD_LEN:
            raise RegistryError(f"password shorter than {MIN_PASSWORD_LEN} characters")
        pw_hash = hash_password(password)
        with self._lock, transaction(self._conn):
            if (
                self._conn.execute(
                    "UPDATE operators SET password_hash = ? WHERE username = ?", (pw_hash, username)
                ).rowcount
                == 0
            ):
                raise NotFound("operator", username)
            return self._conn.execute(
                "DELETE FROM sessions WHERE username = ?", (username,)
            ).rowcount

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
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires_at = now + max_age_s
        idle_expires_at = min(now + idle_s, expires_at)
        with self._lock, transaction(self._conn):
            rows = self._conn.execute(
                "SELECT username, role, display_name, enabled FROM operators WHERE username = ?",
                (username,),
            ).fetchall()
            if not rows or not rows[0][3]:
                raise NotFound("operator", username)
            self._conn.execute(
                "DELETE FROM sessions WHERE expires_at <= ? OR idle_expires_at <= ?", (now, now)
            )
            self._conn.execute(
                "INSERT INTO sessions (id_hash, username, csrf, created_at, last_seen,"
                " expires_at, idle_expires_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _session_hash(session_id),
                    username,
                    csrf,
                    now,
                    now,
                    expires_at,
                    idle_expires_at,
                    language,
                ),
            )
        op = Operator(rows[0][0], rows[0][1], rows[0][2])
        return session_id, ConsoleSession(op, csrf, now, now, expires_at, idle_expires_at, language)

    def session(self, session_id: str, now: float, *, idle_s: float) -> ConsoleSession | None:
        """The live session with this id, or None (unknown, expired, operator gone or
        disabled: such a session is deleted). Refreshes its last-seen time, at most once
        per SESSION_TOUCH_S."""
        if not _SESSION_ID.fullmatch(session_id):
            return None
        key = _session_hash(session_id)
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
        if not enabled or now >= expires or now >= idle_expires:
            self._exec("DELETE FROM sessions WHERE id_hash = ?", (key,))
            return None
        if now - last_seen >= SESSION_TOUCH_S:
            last_seen, idle_expires = now, min(now + idle_s, expires)
            self._exec(
                "UPDATE sessions SET last_seen = ?, idle_expires_at = ? WHERE id_hash = ?",
                (last_seen, idle_expires, key),
            )
        return ConsoleSession(
            Operator(user, role, name), csrf, created, last_seen, expires, idle_expires, lang
        )

    def set_session_language(self, session_id: str, language: str) -> None:
        if _SESSION_ID.fullmatch(session_id):
            self._exec(
                "UPDATE sessions SET language = ? WHERE id_hash = ?",
                (language, _session_hash(session_id)),
            )

    def end_session(self, session_id: str) -> bool:
        if not _SESSION_ID.fullmatch(session_id):
            return False
        return (
            self._exec("DELETE FROM sessions WHERE id_hash = ?", (_session_hash(session_id),)) > 0
        )

    def end_sessions(self, username: str) -> int:
        """Log an operator out everywhere; returns how many sessions were ended."""
        return self._exec("DELETE FROM sessions WHERE username = ?", (username,))

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
