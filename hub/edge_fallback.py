"""The edge's local copy of a dwelling's routing policy, for its GSM fallback (edge.fallback).

`mz provision fallback DWELLING --modem ...` writes `<out>/<dwelling>/fallback.toml`
(mode 0600: it holds the mantelzorgers' phone numbers), which the agent reads through
`fallback_file` in its edge.toml. It lists the recipients of the dwelling's policy, in
its order, that have a phone number: the people the hub would tell first. The installer
is left out (technical trouble is not texted), as is anybody without an international
number (+<country><number>). The phone numbers reach the Pi this way only, never over MQTT.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from alerts.model import Contact
from alerts.routing import Policy
from hub.edge_bundle import SECRET_MODE, BundleError

FALLBACK_TOML: Final = "fallback.toml"
MAX_CONTACTS: Final = 5  # edge.config.FallbackSettings.contacts
_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True, slots=True)
class FallbackCopy:
    text: str  # the file's TOML
    contacts: tuple[str, ...]  # the contact ids it lists, in order
    skipped: tuple[str, ...]  # recipients left out: no (international) phone number


def _phone(raw: str | None) -> str | None:
    """A registry phone number as E.164, or None: spaces and dashes dropped."""
    if raw is None:
        return None
    number = re.sub(r"[\s-]", "", raw)
    return number if _E164.fullmatch(number) else None


def fallback_copy(
    dwelling: str,
    policy: Policy,
    contacts: Sequence[Contact],
    *,
    modem: str,
    label: str = "",
    after_s: float = 120.0,
) -> FallbackCopy:
    """The fallback file for `dwelling`; BundleError if nobody in it can be texted."""
    by_id = {c.id: c for c in contacts}
    chosen: list[tuple[Contact, str]] = []
    skipped: list[str] = []
    for r in policy.recipients:
        contact = by_id.get(r.contact_id)
        if contact is None or r.contact_id == policy.installer or contact.role == "installer":
            continue
        phone = _phone(contact.phone)
        if phone is None:
            skipped.append(r.contact_id)
        elif len(chosen) < MAX_CONTACTS:
            chosen.append((contact, phone))
    if not chosen:
        raise BundleError(
            f"{dwelling}: no recipient of its routing policy has an international phone"
            " number (+<country><number>) to text"
        )
    q = json.dumps  # a JSON string is a TOML basic string
    lines = [
        f"# The GSM fallback of dwelling {dwelling} (docs/edge.md, GSM fallback), written by",
        "# `mz provision fallback`: personal data (phone numbers), keep it mode 0600.",
        f"modem = {q(modem)}",
        f"after_s = {after_s:g}                   # not confirmed by the hub this long: text",
        f"label = {q(label)}",
    ]
    for contact, phone in chosen:
        lines += [
            "",
            "[[contacts]]",
            f"id = {q(contact.id)}",
            f"phone = {q(phone)}",
            f"language = {q(contact.language if contact.language in ('nl', 'en') else 'nl')}",
        ]
    return FallbackCopy("\n".join(lines) + "\n", tuple(c.id for c, _ in chosen), tuple(skipped))


def write_fallback(directory: Path, copy: FallbackCopy) -> Path:
    """Write (or replace) `directory`/fallback.toml, mode 0600 from its first byte."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fallback-", dir=directory)
        try:
            os.fchmod(fd, SECRET_MODE)
            os.write(fd, copy.text.encode())
        finally:
            os.close(fd)
        target = directory / FALLBACK_TOML
        os.replace(tmp, target)
    except OSError as exc:
        raise BundleError(
            f"cannot write {directory / FALLBACK_TOML}: {exc.strerror or exc}"
        ) from exc
    return target
