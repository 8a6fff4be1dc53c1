"""How the registry stores server-side sessions: the console's operators (table
`sessions`, hub.registry) and the mantelzorgers (table `family_sessions`,
hub.family_access) keep theirs the same way.

The cookie holds a random id (secrets.token_urlsafe(32): 256 bits, 43 characters); the
table holds only its SHA-256, with the session's CSRF token, its absolute and idle expiry
and the visitor's language. Anything else in a cookie is not ours and is not looked up.
Each table adds its own owner columns; who may still have a session (an enabled operator,
a contact whose link key is unchanged) is its owner's business.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_-]{43}")
# A session's last-seen time is written at most this often (not on every request).
SESSION_TOUCH_S: Final = 60.0
# The columns every session table has after id_hash, in this order (see `SessionTable.insert`).
_TIME_COLUMNS: Final = "csrf, created_at, last_seen, expires_at, idle_expires_at, language"

# Runs one statement (with `?` placeholders, hub.sql.positional); returns the rows it
# changed.
Exec = Callable[[str, Sequence[object]], int]


def session_key(session_id: str) -> str | None:
    """What the table stores for this cookie value: its SHA-256; None when it cannot be
    one of our ids."""
    return _hash(session_id) if _SESSION_ID.fullmatch(session_id) else None


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    id: str  # for the cookie; never stored
    key: str  # its hash, the table's id_hash
    csrf: str
    created_at: float
    expires_at: float  # absolute: created_at + the maximum age
    idle_expires_at: float  # created_at + the idle limit (never past expires_at)


@dataclass(frozen=True, slots=True)
class SessionTable:
    """One session table: `table` with `id_hash`, the _TIME_COLUMNS, and `owner` (the
    column naming whose session it is: username, contact)."""

    table: str
    owner: str

    def new(self, now: float, *, max_age_s: float, idle_s: float) -> NewSession:
        session_id = secrets.token_urlsafe(32)
        expires_at = now + max_age_s
        return NewSession(
            session_id,
            _hash(session_id),
            secrets.token_urlsafe(24),
            now,
            expires_at,
            min(now + idle_s, expires_at),
        )

    def insert(
        self,
        run: Exec,
        new: NewSession,
        language: str | None,
        owner_columns: dict[str, object],
    ) -> None:
        """Store `new` with the owner's columns (`run` executes in the caller's
        transaction); forgets the table's expired sessions first, so that it stays small."""
        run(
            f"DELETE FROM {self.table} WHERE expires_at <= ? OR idle_expires_at <= ?",
            (new.created_at, new.created_at),
        )
        columns = ", ".join(["id_hash", _TIME_COLUMNS, *owner_columns])
        marks = ", ".join("?" * (7 + len(owner_columns)))
        times = (new.created_at, new.created_at, new.expires_at, new.idle_expires_at)
        run(
            f"INSERT INTO {self.table} ({columns}) VALUES ({marks})",
            (new.key, new.csrf, *times, language, *owner_columns.values()),
        )

    def live(
        self,
        run: Exec,
        key: str,
        now: float,
        last_seen: float,
        expires_at: float,
        idle_expires_at: float,
        *,
        idle_s: float,
        valid: bool = True,
    ) -> tuple[float, float] | None:
        """A looked-up session's (last_seen, idle_expires_at) now, or None when it has
        ended (not `valid` for its owner, or expired: then it is deleted). Refreshes its
        last-seen time, at most once per SESSION_TOUCH_S."""
        if not valid or now >= expires_at or now >= idle_expires_at:
            run(f"DELETE FROM {self.table} WHERE id_hash = ?", (key,))
            return None
        if now - last_seen >= SESSION_TOUCH_S:
            last_seen, idle_expires_at = now, min(now + idle_s, expires_at)
            run(
                f"UPDATE {self.table} SET last_seen = ?, idle_expires_at = ? WHERE id_hash = ?",
                (last_seen, idle_expires_at, key),
            )
        return last_seen, idle_expires_at

    def set_language(self, run: Exec, session_id: str, language: str) -> None:
        key = session_key(session_id)
        if key is not None:
            run(f"UPDATE {self.table} SET language = ? WHERE id_hash = ?", (language, key))

    def end(self, run: Exec, session_id: str) -> bool:
        """Delete the session with this cookie value: True if there was one."""
        key = session_key(session_id)
        return key is not None and run(f"DELETE FROM {self.table} WHERE id_hash = ?", (key,)) > 0

    def end_all(self, run: Exec, owner_id: str) -> int:
        """Delete every session of the owner; returns how many there were."""
        return run(f"DELETE FROM {self.table} WHERE {self.owner} = ?", (owner_id,))
