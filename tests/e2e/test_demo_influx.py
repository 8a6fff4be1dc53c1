"""`mz demo --influx URL`: the demo's readings go to an outside InfluxDB-v2-compatible
endpoint (here a real victoria-metrics, through influxdb-client's v2 write API), with org
mz, bucket mz and the token from MZ_INFLUX_TOKEN, instead of the SQLite file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mz.cli import app
from tests.e2e.demo_cli import REPO, demo_command
from tests.servers import running_victoria

pytestmark = pytest.mark.e2e


def test_demo_writes_its_time_series_to_an_outside_endpoint(tmp_path: Path) -> None:
    with running_victoria(tmp_path) as vm:
        proc = subprocess.run(
            demo_command(tmp_path / "demo", 12, "--influx", vm.http),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={**os.environ, "MZ_INFLUX_TOKEN": "a-demo-token"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"time series  InfluxDB v2 API at {vm.http} (org mz, bucket mz)" in proc.stderr
        series = vm.export('{__name__="reading_value"}')
    dwellings = {s["metric"]["dwelling"] for s in series}
    assert dwellings >= {"dw-001", "dw-002"}, dwellings
    assert all(set(s["metric"]) == {"__name__", "dwelling", "sensor", "quantity"} for s in series)
    assert sum(len(s["values"]) for s in series) > 20
    assert not (tmp_path / "demo" / "hub" / "timeseries.sqlite").exists()


@pytest.mark.parametrize("url", ["127.0.0.1:8086", "ftp://127.0.0.1", "http://host:port"])
def test_a_bad_influx_url_is_one_line_and_exit_2(tmp_path: Path, url: str) -> None:
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path), "--influx", url])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"mz demo: --influx {url!r} is not an endpoint like http://127.0.0.1:8086"
    ]
