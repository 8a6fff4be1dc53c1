"""Talking to an InfluxDB-compatible server: two write dialects and InfluxQL reads.

I/O only: bytes and status codes in, our errors out. The write dialect comes from the URL
(hub.storage.influx_url): v2 through influxdb-client (InfluxDB 2.x/3.x/Cloud,
victoria-metrics), v1 as a plain `POST /write?db=` (InfluxDB 1.x; influxdb-client cannot
write there). Both send precision `us`. Reads are InfluxQL on `/query` for every dialect.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

import httpx

from hub.storage.influx_url import InfluxTarget

# Statuses after which trying again later can succeed: the server is down, overloaded,
# restarting, or (401/403/404) misconfigured in a way an operator fixes without the
# readings being wrong: the disk buffer keeps them meanwhile.
_TRANSIENT = {401, 403, 404, 408, 429}
_RETENTION_DROP = re.compile(r"points beyond retention policy dropped=(\d+)")


class Unreachable(Exception):
    """The write did not happen and may succeed later (buffer it, retry)."""


class Rejected(Exception):
    """The server refused the lines themselves (400, 413): sending them again cannot help."""


class QueryFailed(Exception):
    """An InfluxQL statement failed (unreachable server or an error in the answer)."""


class LineSink(Protocol):
    async def write(self, body: str) -> int:
        """Write line-protocol `body`; return how many points the server dropped as older
        than its retention (stored nowhere, not an error). Raises Unreachable or Rejected."""
        ...

    async def close(self) -> None: ...


def _classify(status: int, text: str) -> int:
    if 200 <= status < 300:
        return 0
    if status == 400 and (m := _RETENTION_DROP.search(text)):
        return int(m.group(1))
    if status in _TRANSIENT or status >= 500:
        raise Unreachable(f"HTTP {status}: {text[:200]}")
    raise Rejected(f"HTTP {status}: {text[:300]}")


def _headers(target: InfluxTarget) -> dict[str, str]:
    return {"Authorization": f"Token {target.token}"} if target.token else {}


def _auth(target: InfluxTarget) -> httpx.BasicAuth | None:
    if target.username is None:
        return None
    return httpx.BasicAuth(target.username, target.password or "")


class V1Sink:
    """`POST /write?db=DB&precision=u` (InfluxDB 1.x)."""

    def __init__(self, target: InfluxTarget, *, timeout_s: float) -> None:
        self._target = target
        self._http = httpx.AsyncClient(
            base_url=target.base_url,
            auth=_auth(target),
            headers=_headers(target),
            timeout=timeout_s,
        )

    async def write(self, body: str) -> int:
        try:
            r = await self._http.post(
                "/write",
                params={"db": self._target.database, "precision": "u"},
                content=body.encode(),
            )
        except httpx.HTTPError as exc:
            raise Unreachable(f"{self._target.base_url}: {exc!r}") from exc
        return _classify(r.status_code, r.text)

    async def close(self) -> None:
        await self._http.aclose()


class V2Sink:
    """The v2 write API through influxdb-client (its synchronous API in a worker thread:
    the async one needs aiohttp, which nothing else here uses)."""

    def __init__(self, target: InfluxTarget, *, timeout_s: float) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._target = target
        self._client = InfluxDBClient(
            url=target.base_url,
            token=target.token or "",
            org=target.org,
            timeout=int(timeout_s * 1000),
            retries=False,  # ours: backoff, then the disk buffer
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    async def write(self, body: str) -> int:
        return await asyncio.to_thread(self._write, body)

    def _write(self, body: str) -> int:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self._api.write(
                bucket=self._target.bucket,
                org=self._target.org,
                record=body,
                write_precision=WritePrecision.US,  # type: ignore[arg-type]  # a str constant
            )
        except ApiException as exc:
            return _classify(int(exc.status or 0) or 503, str(exc.body or exc.reason))
        except (HTTPError, OSError) as exc:
            raise Unreachable(f"{self._target.base_url}: {exc!r}") from exc
        return 0

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def open_sink(target: InfluxTarget, *, timeout_s: float) -> LineSink:
    if target.api == "v2":
        return V2Sink(target, timeout_s=timeout_s)
    return V1Sink(target, timeout_s=timeout_s)


class InfluxQL:
    """InfluxQL over `/query` (1.x; 2.x with a DBRP mapping; 3.x), epochs in µs."""

    def __init__(self, target: InfluxTarget, *, timeout_s: float) -> None:
        self._target = target
        self._http = httpx.AsyncClient(
            base_url=target.base_url,
            auth=_auth(target),
            headers=_headers(target),
            timeout=timeout_s,
        )

    async def query(self, statement: str, *, change: bool = False) -> list[dict[str, Any]]:
        """The series of one statement's result ([] when it has none). `change`: a
        statement that alters the database (sent as POST, as 1.x asks)."""
        params = {"db": self._target.database, "q": statement, "epoch": "u"}
        try:
            if change:
                r = await self._http.post("/query", params=params)
            else:
                r = await self._http.get("/query", params=params)
        except httpx.HTTPError as exc:
            raise QueryFailed(f"{self._target.base_url}: {exc!r}") from exc
        try:
            data = r.json()
        except ValueError:
            raise QueryFailed(f"HTTP {r.status_code}: {r.text[:200]}") from None
        if r.status_code != 200 or "error" in data:
            raise QueryFailed(f"HTTP {r.status_code}: {data.get('error', r.text[:200])}")
        results = data.get("results") or [{}]
        if "error" in results[0]:
            raise QueryFailed(str(results[0]["error"]))
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    async def close(self) -> None:
        await self._http.aclose()
