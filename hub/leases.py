"""A job that must have one owner among the hub workers (presence's offline alarms, the
family's daily messages): a lease row taken and renewed by compare-and-set.

`Lease.hold(now)` renews the lease for this holder, or takes it when it is free or
expired, in one short write transaction; True means "you are the owner until
now + ttl_s". The owner renews well before expiry (every ttl_s / 3); a worker that dies
loses the lease after ttl_s and another takes over. Workers' clocks are compared, so
they must be synchronised (NTP) to well within ttl_s.
"""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import StorageError
from hub.ops_tables import leases
from hub.sql.engine import insert_ignore, writing

DEFAULT_TTL_S = 15.0


def holder_name() -> str:
    """This process, recognisably in logs: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(
        self, engine: Engine, name: str, *, holder: str | None = None, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        self._engine = engine
        self.name = name
        self.holder = holder or holder_name()
        self.ttl_s = ttl_s

    def hold(self, now: float) -> bool:
        """Renew or take the lease; whether this holder owns it now."""
        t = leases
        expires = now + self.ttl_s
        try:
            with writing(self._engine) as conn:
                taken = conn.execute(
                    update(t)
                    .where(t.c.name == self.name)
                    .where(or_(t.c.holder == self.holder, t.c.expires_at < now))
                    .values(holder=self.holder, expires_at=expires)
                )
                if taken.rowcount == 1:
                    return True
                new = conn.execute(
                    insert_ignore(conn, t, "name"),
                    {"name": self.name, "holder": self.holder, "expires_at": expires},
                )
                return bool(new.rowcount == 1)
        except SQLAlchemyError as exc:
            raise StorageError(f"lease {self.name}: {exc}") from exc

    def release(self) -> None:
        """Give the lease up (a clean shutdown), so another worker need not wait."""
        t = leases
        try:
            with writing(self._engine) as conn:
                conn.execute(
                    update(t)
                    .where(t.c.name == self.name, t.c.holder == self.holder)
                    .values(expires_at=0.0)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"lease {self.name}: {exc}") from exc
