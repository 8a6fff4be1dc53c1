"""The demo's link to a care institution: dw-004's resident consents to share their vital
signs, NEWS2 and alarms with a (fictitious) hospital, and at the end of the demo their
NEWS2 episode is exported as a FHIR R4 Bundle into the demo's data directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final, TextIO

from sqlalchemy.exc import SQLAlchemyError

from alerts.store import AlarmStore
from hub.app import Hub
from hub.errors import HubError
from hub.fhir.bundle import to_json
from hub.fhir.collect import sensor_kinds
from hub.fhir.consent import CATEGORIES, ConsentStore
from hub.fhir.export import export
from simulators.demo_residents import SEEDER

log = logging.getLogger(__name__)

EPISODE_DWELLING: Final = "dw-004"
INSTITUTION: Final = "demo-ziekenhuis"
BUNDLE_FILE: Final = "fhir/dw-004-news2-episode.json"


def seed_consent(hub: Hub, valid_from: float) -> None:
    """dw-004's consent (its card carries the hospital's patient id, DEMO-0004)."""
    ConsentStore(hub.sql).grant(
        EPISODE_DWELLING, INSTITUTION, CATEGORIES, valid_from, SEEDER, hub.clock()
    )


async def export_episode(hub: Hub, data_dir: Path, since: float, out: TextIO) -> Path | None:
    """Write the Bundle of dw-004's data since `since` (the consent's check and audit row
    as for `mz export fhir`) and say where on `out`; its path, or None when there was
    nothing or it failed (the demo's summary still follows)."""
    now = hub.clock()
    try:
        result = await export(
            ConsentStore(hub.sql),
            hub.store,
            AlarmStore(hub.sql),
            sensor_kinds(hub.presence.board(), EPISODE_DWELLING),
            EPISODE_DWELLING,
            since,
            now,
            SEEDER,
            now,
        )
    except (HubError, SQLAlchemyError, OSError, ValueError):
        # E.g. an outside time-series endpoint the demo writes to but cannot query
        # (victoria-metrics answers InfluxQL reads in another shape).
        log.warning("the FHIR export of %s failed", EPISODE_DWELLING, exc_info=True)
        return None
    if result.bundle is None or result.data == 0:
        return None
    path = data_dir / BUNDLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(result.bundle, indent=2) + "\n", encoding="utf-8")
    print(
        f"FHIR: {result.data} resources of {EPISODE_DWELLING}'s NEWS2 episode in {path}",
        file=out,
        flush=True,
    )
    return path
