"""Exporting a resident's data as a FHIR Bundle (`mz export fhir`, the demo): under the
resident's consent (checked and audited by hub.fhir.consent), a `collection` Bundle of
what hub.fhir.collect finds in the consented window."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from hub.context import Actor
from hub.fhir import bundle
from hub.fhir.collect import AlarmSource, collect
from hub.fhir.consent import CATEGORIES, ConsentStore, Disclosure
from hub.storage.base import TimeSeriesStore

EXPORT_ACTION = "fhir.export"


@dataclass(frozen=True, slots=True)
class Export:
    disclosure: Disclosure | None  # None: no consent allows it, nothing exported
    bundle: Bundle | None
    data: int  # Observations and Flags in it


async def export(
    consents: ConsentStore,
    store: TimeSeriesStore,
    alarms: AlarmSource | None,
    kinds: Mapping[str, str],
    dwelling: str,
    start: float,
    end: float,
    actor: Actor,
    now: float,
    *,
    institution: str | None = None,
    categories: Collection[str] = CATEGORIES,
    only: Callable[[Resource], bool] | None = None,
) -> Export:
    """The Bundle of `dwelling`'s data measured in [start, end) that its consent allows
    (clipped to it), the disclosure audited first; `only` narrows the resources further
    (the demo: its NEWS2 episode)."""
    disclosure = consents.disclose(
        dwelling, categories, start, end, actor, EXPORT_ACTION, now, institution=institution
    )
    if disclosure is None:
        return Export(None, None, 0)
    found = await collect(disclosure, store, alarms, kinds, now, only=only)
    return Export(disclosure, bundle.collection(found.resources, now), found.data)
