"""A real hub with `[timeseries] url` on a real InfluxDB 1.6.7: readings published through
Mosquitto land in InfluxDB (none in the SQLite file), the console reads them back through
InfluxQL, and /api/v1/stats shows the writer's counters."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from hub.config import OPS_DB, TimeseriesSection
from hub.context import Dwelling, Operator
from hub.registry import SqliteRegistry
from hub.storage.influx_url import parse_influx_url
from tests.integration.console_client import basic
from tests.integration.console_fakes import OPERATOR
from tests.integration.test_hub_ingest import T0, batch, dwelling, make_settings, publish
from tests.servers import InfluxDB1, Mosquitto, hub_running, wait_until

pytestmark = pytest.mark.integration


async def test_readings_go_to_influxdb_and_the_console_reads_them(
    mosquitto: Mosquitto, tmp_path: Path, influxdb_server: InfluxDB1, influx_url: str
) -> None:
    data_dir = tmp_path / "hub-data"
    reg = SqliteRegistry(data_dir / OPS_DB)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    reg.add_operator(Operator(OPERATOR[0], "operator", "Jan Jansen"), OPERATOR[1])
    reg.close()
    settings = make_settings(mosquitto, data_dir, console=True)
    settings = settings.model_copy(
        update={"timeseries": TimeseriesSection(url=SecretStr(influx_url))}
    )
    async with hub_running(settings) as hub:
        async with dwelling(mosquitto) as dw:
            for i in range(5):
                await publish(dw, batch("dw-001", T0 + i, 60 + i))
        await wait_until(lambda: hub.stats.get("accepted.readings") == 5)
        got = await hub.store.series("dw-001", "hr-1", "illuminance", T0, T0 + 10)
        assert [p.value for p in got] == [60, 61, 62, 63, 64]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.console_port}") as http:
            r = await http.get("/api/v1/stats", headers=basic(*OPERATOR))
            assert r.status_code == 200, r.text
            stats = r.json()["timeseries"]
        assert (stats["written"], stats["buffered"], stats["dropped"]) == (5, 0, 0)
    db = parse_influx_url(influx_url).database
    rows = influxdb_server.query("SELECT value FROM reading WHERE dwelling = 'dw-001'", db)
    assert [r[1] for r in rows] == [60, 61, 62, 63, 64]
    assert not (data_dir / "timeseries.sqlite").exists()
