"""The registry's part for the mantelzorger's page (hub.family): contacts' own logins,
their server-side family sessions and their daily-summary preference.

A mixin of `hub.registry.Registry` (the same operational store; its tables in
hub.registry_tables), so that `mz admin contact set-password` and every hub worker see a
new password, a removed contact or a logout at once, like the console's sessions.

- A login is a contact's e-mail address with a password of their own (scrypt, like the
  operators'). One login per address: a second contact with the same address cannot get
  a password (which of the two would a login be?).
- A family session belongs to one contact and so to one dwelling. It stores the
  contact's link key at its start: a new address, phone or channel (a new link key, see
  `update_contact`), a removed contact, a new or cleared password (for a password
  session) each end it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from alerts.model import Contact
from hub.errors import Conflict, NotFound, RegistryError
from hub.session_store import SessionTable, session_key
from hub.sql.engine import is_sqlite, writing
from hub.sql.positional import counting, fetch, run

Via = Literal["password", "link"]
_SESSIONS: Final = SessionTable("family_sessions", owner="contact")  # hub.session_store
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
# pg_advisory_xact_lock(class, key) class of the login locks: "mz" + 1 in ASCII.
_LOGIN_LOCK: Final = 0x6D7A01


@dataclass(frozen=True, slots=True)
class FamilySession:
    """A mantelzorger's server-side session: one contact, their dwelling, nothing else."""

    contact: Contact
    dwelling: str
    via: Via  # how it started: their password, or an acknowledgement link
    csrf: str
    created_at: float
    last_seen: float
    expires_at: float
    idle_expires_at: float
    language: str | None = None


def _address(email: str) -> str:
    """The login's key: the address as typed, without surrounding spaces, lower-case
    (SQLite's lower(): ASCII letters only, which is what addresses are in practice)."""
    return email.strip().lower()


class FamilyAccess:
    """Mixed into Registry, which provides these (and `contact`, `_contacts_where`)."""

    _engine: Engine

    def _exec(self, sql: str, args: Sequence[object]) -> int:
        raise NotImplementedError

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def contact(self, contact_id: str) -> Contact | None:
        raise NotImplementedError

    def _contacts_where(self, where: str, args: Sequence[object]) -> list[Contact]:
        raise NotImplementedError

    # -- logins ------------------------------------------------------------------

    def set_contact_password(self, contact_id: str, password: str, now: float) -> int:
        """Give the contact a login (their e-mail address and this password), or a new
        password; ends every family session of theirs. Returns how many ended."""
        from hub.registry import MIN_PASSWORD_LEN, hash_password

        if len(password) < MIN_PASSWORD_LEN:
            raise RegistryError(f"password shorter than {MIN_PASSWORD_LEN} characters")
        contact = self.contact(contact_id)
        if contact is None:
            raise NotFound("contact", contact_id)
        if not contact.email:
            raise RegistryError(
                f"contact {contact_id} has no e-mail address to log in with"
                " (mz admin contact update --email ...)"
            )
        pw_hash = hash_password(password)  # slow: outside the transaction
        address = _address(contact.email)
        with writing(self._engine) as conn:
            if not is_sqlite(conn):  # one login per address: those setting it take turns
                run(conn, f"SELECT pg_advisory_xact_lock({_LOGIN_LOCK}, hashtext(?))", (address,))
            other = fetch(
                conn,
                "SELECT c.id FROM contacts AS c JOIN contact_logins AS l ON l.contact = c.id"
                " WHERE lower(trim(c.email)) = ? AND c.id != ?",
                (address, contact_id),
            )
            if other:
                raise Conflict(
                    f"contact {other[0][0]} already logs in with {contact.email}; one login"
                    " per e-mail address"
                )
            run(
                conn,
                "INSERT INTO contact_logins (contact, password_hash, set_at) VALUES (?, ?, ?)"
                " ON CONFLICT (contact) DO UPDATE SET password_hash = excluded.password_hash,"
                " set_at = excluded.set_at",
                (contact_id, pw_hash, now),
            )
            return run(
                conn, "DELETE FROM family_sessions WHERE contact = ?", (contact_id,)
            ).rowcount

    def clear_contact_password(self, contact_id: str) -> int:
        """Take the contact's login away and end their sessions (also link ones)."""
        with writing(self._engine) as conn:
            if (
                run(conn, "DELETE FROM contact_logins WHERE contact = ?", (contact_id,)).rowcount
                == 0
            ):
                raise NotFound("contact login", contact_id)
            return run(
                conn, "DELETE FROM family_sessions WHERE contact = ?", (contact_id,)
            ).rowcount

    def has_login(self, contact_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM contact_logins WHERE contact = ?", (contact_id,)))

    def verify_contact(self, email: str, password: str) -> Contact | None:
        """The contact whose login this is, if the password is theirs. An unknown address
        costs a password check all the same (no timing difference)."""
        from hub.registry import _DUMMY_HASH, check_password

        rows = self._rows(
            "SELECT l.contact, l.password_hash FROM contact_logins AS l"
            " JOIN contacts AS c ON c.id = l.contact WHERE lower(trim(c.email)) = ?"
            " ORDER BY l.contact",
            (_address(email),),
        )
        if not rows:
            check_password(password, _DUMMY_HASH)
            return None
        for contact_id, stored in rows:
            if check_password(password, stored):
                return self.contact(contact_id)
        return None

    # -- family sessions ---------------------------------------------------------

    def create_family_session(
        self,
        contact_id: str,
        via: Via,
        now: float,
        *,
        max_age_s: float,
        idle_s: float,
        language: str | None = None,
    ) -> tuple[str, FamilySession]:
        """A new session for the contact: (its id, for the cookie; the session). Forgets
        expired ones. Raises NotFound if the contact is gone (or, for `via="password"`,
        has no login any more)."""
        new = _SESSIONS.new(now, max_age_s=max_age_s, idle_s=idle_s)
        with writing(self._engine) as conn:
            rows = fetch(
                conn,
                "SELECT c.dwelling, c.link_key, l.contact FROM contacts AS c"
                " LEFT JOIN contact_logins AS l ON l.contact = c.id WHERE c.id = ?",
                (contact_id,),
            )
            if not rows or (via == "password" and rows[0][2] is None):
                raise NotFound("contact", contact_id)
            dwelling, link_key = rows[0][0], rows[0][1]
            owner = {"contact": contact_id, "dwelling": dwelling, "link_key": link_key}
            _SESSIONS.insert(counting(conn), new, language, {**owner, "via": via, "idle_s": idle_s})
        contact = self.contact(contact_id)
        if contact is None:  # removed right after the transaction: the row cascaded away
            raise NotFound("contact", contact_id)
        times = (now, now, new.expires_at, new.idle_expires_at)
        return new.id, FamilySession(contact, dwelling, via, new.csrf, *times, language)

    def family_session(self, session_id: str, now: float) -> FamilySession | None:
        """The live session with this id, or None: unknown, expired, its contact removed,
        moved on (a new link key) or, for a password session, without a login now."""
        key = session_key(session_id)
        if key is None:
            return None
        rows = self._rows(
            "SELECT s.contact, s.dwelling, s.via, s.csrf, s.created_at, s.last_seen,"
            " s.expires_at, s.idle_expires_at, s.idle_s, s.language,"
            " (c.dwelling = s.dwelling AND c.link_key = s.link_key"
            "  AND (s.via != 'password' OR l.contact IS NOT NULL))"
            " FROM family_sessions AS s JOIN contacts AS c ON c.id = s.contact"
            " LEFT JOIN contact_logins AS l ON l.contact = s.contact WHERE s.id_hash = ?",
            (key,),
        )
        if not rows:
            return None
        cid, dwelling, via, csrf, created, last_seen, expires, idle_expires, idle_s, lang, ok = (
            rows[0]
        )
        live = _SESSIONS.live(
            self._exec, key, now, last_seen, expires, idle_expires, idle_s=idle_s, valid=ok
        )
        contact = self.contact(cid) if live is not None else None
        if live is None or contact is None:
            return None
        last_seen, idle_expires = live
        return FamilySession(
            contact, dwelling, via, csrf, created, last_seen, expires, idle_expires, lang
        )

    def set_family_session_language(self, session_id: str, language: str) -> None:
        _SESSIONS.set_language(self._exec, session_id, language)

    def end_family_session(self, session_id: str) -> bool:
        return _SESSIONS.end(self._exec, session_id)

    def end_family_sessions(self, contact_id: str) -> int:
        """Log a contact out everywhere; returns how many sessions ended."""
        return _SESSIONS.end_all(self._exec, contact_id)

    def family_sessions_of(self, contact_id: str, now: float) -> list[FamilySession]:
        """The contact's sessions that have not expired, oldest first."""
        contact = self.contact(contact_id)
        if contact is None:
            return []
        rows = self._rows(
            "SELECT dwelling, via, csrf, created_at, last_seen, expires_at, idle_expires_at,"
            " language FROM family_sessions WHERE contact = ? AND expires_at > ?"
            " AND idle_expires_at > ? ORDER BY created_at",
            (contact_id, now, now),
        )
        return [FamilySession(contact, *row) for row in rows]

    # -- the daily summary -------------------------------------------------------

    def daily_summary(self, contact_id: str) -> bool:
        rows = self._rows("SELECT daily_summary FROM family_prefs WHERE contact = ?", (contact_id,))
        return bool(rows and rows[0][0])

    def set_daily_summary(self, contact_id: str, on: bool, now: float) -> None:
        """Switch the contact's daily summary on or off. Switched on at `now`, the first
        one goes at the first send time after `now` (see `summaries_due`)."""
        try:
            changed = self._exec(
                "INSERT INTO family_prefs (contact, daily_summary, enabled_at) VALUES (?, ?, ?)"
                " ON CONFLICT (contact) DO UPDATE SET daily_summary = excluded.daily_summary,"
                " enabled_at = CASE WHEN family_prefs.daily_summary = excluded.daily_summary"
                " THEN family_prefs.enabled_at ELSE excluded.enabled_at END",
                (contact_id, int(on), now if on else None),
            )
        except IntegrityError as exc:
            raise NotFound("contact", contact_id) from exc
        if changed == 0:
            raise NotFound("contact", contact_id)

    def summaries_due(self, day: str, send_at: float) -> list[Contact]:
        """Contacts who want a daily summary, switched it on before `send_at` (the send
        time of local date `day`) and have not had the one of `day` yet."""
        if not _DAY.fullmatch(day):
            raise RegistryError(f"not a date: {day!r}")
        return self._contacts_where(
            "id IN (SELECT contact FROM family_prefs WHERE daily_summary = 1"
            " AND enabled_at < ? AND (summary_sent_day IS NULL OR summary_sent_day < ?))",
            (send_at, day),
        )

    def claim_summary(self, contact_id: str, day: str) -> bool:
        """Take the contact's summary of `day` to send: True once, for one process only
        (at most once, like the alarm outbox: a summary whose sending fails is not
        sent again)."""
        return (
            self._exec(
                "UPDATE family_prefs SET summary_sent_day = ? WHERE contact = ?"
                " AND daily_summary = 1 AND (summary_sent_day IS NULL OR summary_sent_day < ?)",
                (day, contact_id, day),
            )
            == 1
        )
