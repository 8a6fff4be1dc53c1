from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app as hub_app
from hub.config import load_settings, parse_host_port
from hub.errors import ConfigError

GOOD = """
[broker]
url = "mqtts://mqtt.example.org:8883"
password = "a-real-broker-password"
ca_file = "/etc/mz/ca.crt"

[data]
dir = "/tmp/mz-hub-test"

[console]
port = 9090
public_url = "https://hub.example.org"
secret_key = "0123456789abcdef0123456789abcdef"

[mail]
url = "mailto://127.0.0.1:8025?from=alarm@mz.local&mode=insecure"

[routing]
step_wait_s = 60

[alarm_centre]
primary = "receiver1.example.org:5000"
backup = "[::1]:5001"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hub.toml"
    p.write_text(text)
    return p


def test_loads_toml(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD))
    assert (s.broker.host, s.broker.port, s.broker.tls) == ("mqtt.example.org", 8883, True)
    assert s.broker.shared_subscriptions is False  # Mosquitto 2.0 loses $share on restart
    assert s.console.port == 9090 and s.console.host == "127.0.0.1"
    assert s.routing.step_wait_s == 60
    assert s.alarm_centre.primary == "receiver1.example.org:5000"
    assert parse_host_port(s.alarm_centre.backup or "") == ("::1", 5001)
    assert s.data.dir == Path("/tmp/mz-hub-test")
    s.require_secrets()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MZ_HUB_CONSOLE__PORT", "7070")
    monkeypatch.setenv("MZ_HUB_BROKER__SHARED_SUBSCRIPTIONS", "true")
    s = load_settings(_write(tmp_path, GOOD))
    assert s.console.port == 7070
    assert s.broker.shared_subscriptions is True
    # the rest of the section still comes from the file
    assert s.broker.url == "mqtts://mqtt.example.org:8883"


def test_secrets_are_not_shown(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD))
    assert "a-real-broker-password" not in repr(s)
    assert "0123456789abcdef" not in repr(s)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('secret_key = "0123456789abcdef0123456789abcdef"', "", "console.secret_key"),
        (
            'secret_key = "0123456789abcdef0123456789abcdef"',
            'secret_key = "change-me"',
            "placeholder",
        ),
        ('secret_key = "0123456789abcdef0123456789abcdef"', 'secret_key = "short-key"', "shorter"),
        ('password = "a-real-broker-password"', 'password = "CHANGE-ME-please"', "broker.password"),
        ('password = "a-real-broker-password"', "", "broker.password"),
    ],
)
def test_refuses_missing_or_placeholder_secrets(
    tmp_path: Path, replace: str, by: str, message: str
) -> None:
    s = load_settings(_write(tmp_path, GOOD.replace(replace, by)))
    with pytest.raises(ConfigError, match=message):
        s.require_secrets()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[broker\nurl=", "not valid TOML"),
        ('[broker]\nurl = "http://x"\n', "broker.url"),
        ("[console]\nport = 99999\n", "console.port"),
        ("[console]\nprot = 1\n", "console.prot"),
        ("language = 'fr'\n", "language"),
        ('[alarm_centre]\nprimary = "receiver.example.org"\n', "host:port"),
        ('[alarm_centre]\nbackup = "h:99999"\n', "host:port"),
        ('[alarm_centre]\nkeys = { 1001 = "too-short" }\n', "16, 24 or 32"),
        ('[alarm_centre]\nkeys = { 1001 = "not-hex-not-hex!" }\n', "hexadecimal"),
        ("[routing]\nstep_wait_s = 0\n", "routing.step_wait_s"),
        ("[mail]\nrenotify_s = 60\n", "mail.renotify_s"),
    ],
)
def test_corrupt_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_hub_run_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, GOOD.replace("0123456789abcdef0123456789abcdef", "change-me"))
    r = CliRunner().invoke(hub_app, ["run", "--config", str(bad)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "placeholder" in lines[0] and "Traceback" not in r.output
    r = CliRunner().invoke(hub_app, ["run", "--config", str(_write(tmp_path, "[x"))])
    assert r.exit_code == 2 and "not valid TOML" in r.output


def test_example_config_is_valid_but_refused_until_secrets_are_set() -> None:
    example = Path(__file__).parents[2] / "deploy" / "hub" / "hub.example.toml"
    s = load_settings(example)
    with pytest.raises(ConfigError):
        s.require_secrets()


def test_unreadable_broker_ca_file_is_a_config_error_at_start(tmp_path: Path) -> None:
    from hub.app import build_hub

    text = GOOD.replace("/etc/mz/ca.crt", str(tmp_path / "missing-ca.crt")).replace(
        "/tmp/mz-hub-test", str(tmp_path / "data")
    )
    with pytest.raises(ConfigError, match="TLS"):
        build_hub(load_settings(_write(tmp_path, text)))
    assert not (tmp_path / "data").exists()


def test_a_real_mail_url_mentioning_example_org_is_accepted(tmp_path: Path) -> None:
    text = GOOD.replace(
        "mailto://127.0.0.1:8025?from=alarm@mz.local&mode=insecure",
        "mailto://127.0.0.1:8025?from=hub@example.org&mode=insecure",
    )
    load_settings(_write(tmp_path, text)).require_secrets()
    bad = GOOD.replace("mode=insecure", "user=alarm&pass=change-me")
    with pytest.raises(ConfigError, match=r"mail\.url"):
        load_settings(_write(tmp_path, bad)).require_secrets()
