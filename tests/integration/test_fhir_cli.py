"""`mz admin consent ...` and `mz export fhir` on the hub's configured stores (SQLite and
PostgreSQL): the institution's identifier set on the card, a consent granted, listed,
exported under, revoked; without consent nothing is written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine
from typer.testing import CliRunner

from hub.app import TIMESERIES_DB
from hub.registry import Registry
from hub.storage.base import Point
from hub.storage.sqlite import SqliteTimeSeriesStore
from mz.cli import app
from tests.fhir_server import resources_of


def config(tmp_path: Path, engine: Engine) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / "hub.toml"
    path.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n\n[storage]\nsql = "{url}"\n')
    return path


def mz(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


def test_consent_and_export_from_the_command_line(sql_engine: Engine, tmp_path: Path) -> None:
    hub_toml = str(config(tmp_path, sql_engine))
    t = time.time() - 600

    async def seed() -> None:
        store = SqliteTimeSeriesStore(tmp_path / "data" / TIMESERIES_DB)
        await store.write_points([Point("dw-001", "vitals-1", "spo2", t, 91.5)])
        await store.close()

    asyncio.run(seed())
    assert (
        mz("admin", "dwelling", "add", "dw-001", "--label", "Unit 1", "--config", hub_toml)[0] == 0
    )
    out = tmp_path / "bundle.json"
    export = ("export", "fhir", "--dwelling", "dw-001", "--since", "1h", "--out", str(out))
    code, text = mz(*export, "--config", hub_toml)
    assert code == 1 and "no consent" in text and not out.exists()

    code, text = mz(
        "admin", "consent", "grant", "dw-001", "--institution", "zgt", "--config", hub_toml
    )
    assert code == 2 and "institution identifier" in text  # none on the card yet
    code, _ = mz(
        "admin", "resident", "set", "dw-001", "--institution-id", "ZGT-77", "--config", hub_toml
    )
    assert code == 0
    code, text = mz(
        "admin", "consent", "grant", "dw-001", "--institution", "zgt",
        "--categories", "vital-signs", "--from", "2h", "--config", hub_toml,
    )  # fmt: skip
    assert code == 0 and "-> zgt (vital-signs)" in text, text
    consent_id = text.split()[1].rstrip(":")
    code, text = mz("admin", "consent", "list", "--config", hub_toml)
    assert code == 0 and "zgt\tvital-signs" in text and "in force" in text

    code, text = mz(*export, "--config", hub_toml)
    assert code == 0, text
    bundle = Bundle.model_validate_json(out.read_text())
    (obs,) = resources_of(bundle, "Observation")
    assert obs.code.coding[0].code == "2708-6"
    assert (
        json.loads(out.read_text(), parse_float=str)["entry"][2]["resource"]["valueQuantity"][
            "value"
        ]
        == "91.5"
    )
    assert resources_of(bundle, "Patient")[0].identifier[0].value == "ZGT-77"
    reg = Registry(sql_engine)
    assert [e.action for e in reg.audit_log("dw-001")][:2] == ["fhir.export", "fhir.consent.grant"]

    assert mz("admin", "consent", "revoke", consent_id, "--config", hub_toml)[0] == 0
    out.unlink()
    assert mz(*export, "--config", hub_toml)[0] == 1 and not out.exists()
    assert "revoked" in mz("admin", "consent", "list", "dw-001", "--config", hub_toml)[1]
