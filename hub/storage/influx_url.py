"""`[timeseries] url`: where an InfluxDB-compatible server is and which API it speaks.

    influxdb://TOKEN@host:8086?org=mz&bucket=mz    InfluxDB 2.x / 3.x / Cloud: the v2 write
                                                   API through influxdb-client
    influxdbs://TOKEN@host:443?org=mz&bucket=mz    the same over HTTPS
    influxdb1://USER:PASSWORD@host:8086?db=mz      InfluxDB 1.x: plain /write?db=
    influxdb1s://...                               the same over HTTPS

Every dialect reads with InfluxQL on `/query` (`db` defaults to the bucket on v2, where
the server needs a DBRP mapping for it). The token may also come from `[timeseries] token`
(MZ_HUB_TIMESERIES__TOKEN) instead of the URL; user and password are optional on v1.
Pure: parses and checks, raises ValueError with a message an operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_PORT: Final = 8086
_SCHEMES: Final = {
    "influxdb": ("v2", "http"),
    "influxdbs": ("v2", "https"),
    "influxdb1": ("v1", "http"),
    "influxdb1s": ("v1", "https"),
}
_KEYS: Final = {"v2": {"org", "bucket", "db"}, "v1": {"db"}}
EXAMPLES: Final = "influxdb://TOKEN@host:8086?org=mz&bucket=mz or influxdb1://host:8086?db=mz"


@dataclass(frozen=True, slots=True)
class InfluxTarget:
    api: Literal["v1", "v2"]
    base_url: str  # http(s)://host:port, no credentials
    database: str  # InfluxQL `db` (v1 database; on v2 the DBRP-mapped name)
    org: str = ""  # v2 only
    bucket: str = ""  # v2 only
    token: str | None = None  # v2 (and InfluxDB 1.x with a token proxy, never needed here)
    username: str | None = None  # v1
    password: str | None = None  # v1

    def __repr__(self) -> str:  # never the secrets
        return f"InfluxTarget({self.api}, {self.base_url}, db={self.database})"


def parse_influx_url(url: str, *, token: str | None = None) -> InfluxTarget:
    """The target `url` names; `token` (from the settings) when the URL has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:  # a port that is not a number, a bad IPv6 literal
        raise ValueError(f"is not a valid URL ({exc}); expected {EXAMPLES}") from None
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(_SCHEMES)}; "
            f"expected {EXAMPLES}"
        )
    api, http = _SCHEMES[parts.scheme]
    if not parts.hostname:
        raise ValueError(f"names no host; expected {EXAMPLES}")
    if parts.path not in ("", "/"):
        raise ValueError(f"has a path ({parts.path!r}); give the database as ?db=NAME")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - _KEYS[api])
    if unknown:
        raise ValueError(
            f"has unknown parameter(s) {', '.join(unknown)}; "
            f"{parts.scheme}:// takes {', '.join(sorted(_KEYS[api]))}"
        )
    empty = sorted(k for k, v in query.items() if not v.strip())
    if empty:
        raise ValueError(f"has empty parameter(s) {', '.join(empty)}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    base = f"{http}://{host}:{port}"
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else None
    if api == "v2":
        if secret is not None:
            raise ValueError("holds user:password; the v2 API takes a token (TOKEN@host)")
        if user is not None and token is not None:
            raise ValueError("has a token and [timeseries] token is set too; give one")
        bucket = query.get("bucket", "mz")
        return InfluxTarget(
            api="v2",
            base_url=base,
            database=query.get("db", bucket),
            org=query.get("org", "mz"),
            bucket=bucket,
            token=user if user is not None else token,
        )
    if "db" not in query:
        raise ValueError("needs the database: influxdb1://host:8086?db=mz")
    return InfluxTarget(
        api="v1",
        base_url=base,
        database=query["db"],
        token=token,
        username=user,
        password=secret,
    )
