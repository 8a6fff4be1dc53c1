"""Edge settings: TOML plus MZ_EDGE_ environment, validation, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_settings
from edge.errors import ConfigError

GOOD = """
dwelling = "dw-007"
broker_url = "mqtts://hub.example.org"
password = "s3cr3t-long-enough"
ca_file = "/etc/mz-edge/ca.pem"
heartbeat_s = 20

[spool]
path = "/var/lib/mz-edge/spool.sqlite"
max_messages = 5000

[[devices]]
id = "pendant-1"
kind = "pendant"
address = "a4:c1:38:00:00:01"

[[devices]]
id = "wearable-1"
kind = "wearable"
transport = "serial"
port = "/dev/ttyUSB0"
"""

REPO = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("MZ_EDGE_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge.toml"
    p.write_text(text)
    return p


def test_good_config(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert s.dwelling == "dw-007"
    assert (s.host, s.port, s.tls) == ("hub.example.org", 8883, True)
    assert s.mqtt_username == "dw-007" and s.mqtt_client_id == "dw-007"
    assert s.mqtt_version == "3.1.1"
    assert s.spool.max_messages == 5000
    assert s.devices[0].address == "A4:C1:38:00:00:01"
    assert s.devices[1].transport == "serial"
    assert "s3cr3t" not in repr(s)  # SecretStr


def test_receipts_and_pacing_defaults_and_off(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert (s.receipt_timeout_s, s.receipt_max_interval_s) == (30.0, 120.0)
    assert (s.replay_per_s, s.replay_burst) == (20.0, 10)
    off = load_settings(write(tmp_path, GOOD + "\n"), receipt_timeout_s=0, replay_per_s=0)
    assert off.receipt_timeout_s == 0 and off.replay_per_s == 0


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MZ_EDGE_PASSWORD", "from-the-environment")
    monkeypatch.setenv("MZ_EDGE_HEARTBEAT_S", "7.5")
    monkeypatch.setenv("MZ_EDGE_SPOOL__MAX_MESSAGES", "123")
    s = load_settings(write(tmp_path, GOOD))
    assert s.password.get_secret_value() == "from-the-environment"
    assert s.heartbeat_s == 7.5
    assert s.spool.max_messages == 123
    assert str(s.spool.path) == "/var/lib/mz-edge/spool.sqlite"  # nested: merged, not replaced


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('password = "s3cr3t-long-enough"', 'password = "changeme"'), "placeholder"),
        (('password = "s3cr3t-long-enough"', 'password = ""'), "placeholder"),
        (('dwelling = "dw-007"', 'dwelling = "Mrs Jansen"'), "pseudonymous"),
        (('broker_url = "mqtts://hub.example.org"', 'broker_url = "http://x"'), "broker_url"),
        (('address = "a4:c1:38:00:00:01"', 'address = "nope"'), "address"),
        (('port = "/dev/ttyUSB0"', ""), "needs port"),
        (('kind = "pendant"', 'kind = "toaster"'), "devices.0.kind"),
        (("heartbeat_s = 20", "heartbeat_s = -1"), "heartbeat_s"),
        (("heartbeat_s = 20", "surprise = 1"), "surprise"),
        (('id = "wearable-1"', 'id = "pendant-1"'), "unique"),
        (("heartbeat_s = 20", "receipt_timeout_s = 60\nreceipt_max_interval_s = 30"), "receipt"),
        (("heartbeat_s = 20", "replay_per_s = -1"), "replay_per_s"),
    ],
)
def test_invalid_config_one_line_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, GOOD.replace(*change)))
    assert "\n" not in str(info.value)


def test_placeholder_password_from_env_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MZ_EDGE_PASSWORD", "CHANGE-ME")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(write(tmp_path, GOOD))


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, GOOD + "\n[[[broken"))
    bad = tmp_path / "binary.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_settings(bad)


@pytest.mark.parametrize("text", ["dwelling = ", GOOD.replace("s3cr3t-long-enough", "changeme")])
def test_cli_exits_2_with_one_line(tmp_path: Path, text: str) -> None:
    cfg = write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "mz", "edge", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mz edge: invalid configuration: ")


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MZ_EDGE_PASSWORD", "a-real-secret")
    s = load_settings(REPO / "deploy" / "edge" / "edge.example.toml")
    assert s.devices


def test_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file-0123\n")
    text = GOOD.replace('password = "s3cr3t-long-enough"', f'password_file = "{secret}"')
    s = load_settings(write(tmp_path, text))
    assert s.password.get_secret_value() == "from-the-file-0123"


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ('password = "x-long-pw"\npassword_file = "{secret}"', "both set"),
        ('password_file = "{missing}"', "No such file"),
        ('password_file = "{secret}"\ncert_file = "/c.crt"\nkey_file = "/c.key"', None),
        ('password_file = "{secret}"\nkey_file = "/c.key"', "key_file without cert_file"),
    ],
)
def test_password_file_and_client_certificate_settings(
    tmp_path: Path, replacement: str, message: str | None
) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file-0123\n")
    line = replacement.format(secret=secret, missing=tmp_path / "nope")
    text = GOOD.replace('password = "s3cr3t-long-enough"', line)
    if message is None:
        s = load_settings(write(tmp_path, text))
        assert (str(s.cert_file), str(s.key_file), s.tls) == ("/c.crt", "/c.key", True)
        return
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, text))
    assert "\n" not in str(info.value)
