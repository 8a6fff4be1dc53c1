"""`[timeseries]`: which store the readings go to, and clear errors for a bad URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.app import open_points_store
from hub.config import load_settings
from hub.errors import ConfigError
from hub.storage.influx import InfluxStore
from hub.storage.sqlite import SqliteTimeSeriesStore

SECRETS: dict[str, Any] = {
    "broker": {"password": "a-real-broker-password"},
    "console": {"secret_key": "0123456789abcdef0123456789abcdef"},
}


def _settings(tmp_path: Path, **timeseries: Any) -> Any:
    return load_settings(None, data={"dir": str(tmp_path)}, timeseries=timeseries, **SECRETS)


async def test_no_url_is_the_embedded_sqlite_store(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.timeseries.target() is None
    store = open_points_store(s)
    assert isinstance(store, SqliteTimeSeriesStore)
    await store.close()


async def test_a_url_builds_the_influx_store(tmp_path: Path) -> None:
    s = _settings(tmp_path, url="influxdb1://127.0.0.1:8086?db=mz", buffer_max_readings=500)
    store = open_points_store(s)
    assert isinstance(store, InfluxStore)
    assert store.target.api == "v1" and store.target.database == "mz"
    assert (tmp_path / "influx-buffer.sqlite").exists()
    await store.close()


def test_v2_url_with_the_token_in_it(tmp_path: Path) -> None:
    t = _settings(tmp_path, url="influxdb://s3cret-token@influx.example.org:8086").timeseries
    target = t.target()
    assert (target.api, target.base_url) == ("v2", "http://influx.example.org:8086")
    assert (target.org, target.bucket, target.database, target.token) == (
        "mz",
        "mz",
        "mz",
        "s3cret-token",
    )
    assert "s3cret" not in repr(target) and "s3cret" not in repr(t)


def test_v2_over_https_with_the_token_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MZ_HUB_TIMESERIES__TOKEN", "from-the-env")
    monkeypatch.setenv("MZ_HUB_TIMESERIES__URL", "influxdbs://eu.cloud.example:443?org=o&bucket=b")
    target = load_settings(None, **SECRETS).timeseries.target()
    assert target is not None
    assert (target.base_url, target.org, target.bucket, target.database, target.token) == (
        "https://eu.cloud.example:443",
        "o",
        "b",
        "b",
        "from-the-env",
    )


def test_v1_url_with_user_and_password(tmp_path: Path) -> None:
    target = _settings(tmp_path, url="influxdb1://hub:p%40ss@10.0.0.5?db=care").timeseries.target()
    assert (target.api, target.base_url, target.database) == ("v1", "http://10.0.0.5:8086", "care")
    assert (target.username, target.password) == ("hub", "p@ss")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://s3cret@127.0.0.1:8086", "scheme 'http' is not one of influxdb, influxdbs"),
        ("127.0.0.1:8086", "is not one of"),
        ("influxdb1://127.0.0.1:8086", r"needs the database: influxdb1://host:8086\?db=mz"),
        ("influxdb://s3cret@:8086", "names no host"),
        ("influxdb://s3cret@host:port", "is not a valid URL"),
        ("influxdb://s3cret@host:8086/mz", r"has a path .* give the database as \?db=NAME"),
        ("influxdb://s3cret@host?database=mz", "unknown parameter.* database"),
        ("influxdb1://host?db=mz&org=mz", "unknown parameter.* org"),
        ("influxdb://s3cret@host?bucket=", "empty parameter.* bucket"),
        ("influxdb://user:s3cret@host", "takes a token"),
    ],
)
def test_a_bad_url_is_one_clear_error_without_the_secret(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"timeseries: url .*{message}") as err:
        _settings(tmp_path, url=url)
    assert "s3cret" not in str(err.value)


def test_token_in_both_places_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give one"):
        _settings(tmp_path, url="influxdb://a-token@host", token="another")


@pytest.mark.parametrize(
    "timeseries",
    [
        {"url": "influxdb://change-me@influxdb:8086"},  # the shipped hub.env.example
        {"url": "influxdb://host", "token": "placeholder"},
        {"url": "influxdb1://hub:change-me@host?db=mz"},
    ],
)
def test_a_placeholder_token_or_password_is_refused_at_start(
    tmp_path: Path, timeseries: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=r"timeseries (token|password) is empty or a placeholder"):
        _settings(tmp_path, **timeseries).require_secrets()


@pytest.mark.parametrize(
    ("key", "value"),
    [("buffer_max_readings", 0), ("raw_retention_days", 0.5), ("retry_attempts", 0)],
)
def test_bounds(tmp_path: Path, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"timeseries.{key}"):
        _settings(tmp_path, url="influxdb1://host?db=mz", **{key: value})
