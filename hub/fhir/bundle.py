"""Bundles of our resources: a `collection` (the export file), a `transaction` (a push:
conditional creates, so a Bundle the server already took in makes no duplicates) and a
`searchset` (the search API's answer). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from hub.fhir import resources

# What a transaction's response entry says of each created resource: its location.
LOCATION_KEY: Final = "location"


def _entries(items: Sequence[Resource]) -> list[dict[str, Any]]:
    return [{"fullUrl": resources.full_url(r), "resource": r} for r in items]


def collection(items: Sequence[Resource], made_at: float) -> Bundle:
    return Bundle(type="collection", timestamp=resources.instant(made_at), entry=_entries(items))


def searchset(items: Sequence[Resource], self_url: str) -> Bundle:
    return Bundle(
        type="searchset",
        total=len(items),
        link=[{"relation": "self", "url": self_url}],
        entry=[{**e, "search": {"mode": "match"}} for e in _entries(items)] or None,
    )


def _if_none_exist(item: Resource) -> str | None:
    ids = getattr(item, "identifier", None)
    if not ids:
        return None
    first = ids[0]
    return f"identifier={first.system}|{first.value}"


def transaction(items: Sequence[Resource]) -> Bundle:
    entries = []
    for entry, item in zip(_entries(items), items, strict=True):
        request: dict[str, str] = {"method": "POST", "url": item.get_resource_type()}
        condition = _if_none_exist(item)
        if condition is not None:
            request["ifNoneExist"] = condition
        entries.append({**entry, "request": request})
    return Bundle(type="transaction", entry=entries)


def to_json(bundle: Bundle, *, indent: int | None = None) -> str:
    return bundle.model_dump_json(exclude_none=True, indent=indent)


def response_locations(body: str) -> list[str]:
    """The locations of a transaction-response Bundle's entries, in order ("" for an
    entry without one). Raises ValueError for anything that is not one."""
    answer = Bundle.model_validate_json(body)
    if answer.type != "transaction-response":
        raise ValueError(f"not a transaction-response Bundle: {answer.type!r}")
    out = []
    for entry in answer.entry or []:
        response = entry.response
        out.append(str(response.location) if response and response.location else "")
    return out
