"""The systemd units in deploy/: `systemd-analyze verify` on each, and the hub worker
template's settings resolved as systemd would hand them to `mz hub run`.

verify insists that ExecStart's binary exists, and /opt/mz/venv/bin/mz does not here: each
unit is verified as a copy in a temporary directory with that path pointed at a stub.
Nothing is started (systemd is not PID 1 here).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from hub.config import load_settings
from tests.hub_env import hub_field_path, parse_env_file
from tests.servers import require_binary

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy"
MZ = "/opt/mz/venv/bin/mz"
UNITS = {
    "mz-edge.service": DEPLOY / "edge" / "mz-edge.service",
    "mz-hub.service": DEPLOY / "hub" / "mz-hub.service",
    # A template is verified as instances.
    "mz-hub@1.service": DEPLOY / "hub" / "mz-hub@.service",
    "mz-hub@2.service": DEPLOY / "hub" / "mz-hub@.service",
}


def verify(tmp_path: Path, name: str, text: str) -> str:
    """systemd-analyze verify's complaints about `text` as unit `name` ("" if none)."""
    analyze = require_binary("systemd-analyze", "systemd")
    stub = tmp_path / "bin" / "mz"
    if not stub.exists():
        stub.parent.mkdir()
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    assert MZ in text or "ExecStart" not in text, f"{name}: ExecStart is not {MZ}"
    unit = tmp_path / name
    unit.write_text(text.replace(MZ, str(stub)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 on unknown keys and unparsable values: its output is the verdict.
    return f"{done.stdout}{done.stderr}".strip() + ("" if done.returncode == 0 else " (failed)")


@pytest.mark.parametrize("name", list(UNITS))
def test_unit_passes_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    assert verify(tmp_path, name, UNITS[name].read_text()) == ""


def test_verify_catches_mistakes(tmp_path: Path) -> None:
    """The check above can fail: verify reads the copy and reports what systemd would skip."""
    text = UNITS["mz-edge.service"].read_text()
    broken = text.replace("WatchdogSec=30", "WatchdogSecs=30").replace(
        "Type=notify", "Type=notifyy"
    )
    said = verify(tmp_path, "mz-edge.service", broken)
    assert "Unknown key 'WatchdogSecs'" in said
    assert "notifyy" in said


def unit_environment(text: str, instance: str) -> dict[str, str]:
    """Environment= assignments of a unit, with %i as systemd expands it."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            for word in shlex.split(line.removeprefix("Environment=").replace("%i", instance)):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def environment_files(text: str, instance: str) -> list[str]:
    return [
        line.removeprefix("EnvironmentFile=").lstrip("-").replace("%i", instance)
        for line in text.splitlines()
        if line.startswith("EnvironmentFile=")
    ]


def test_hub_worker_template_gives_each_worker_its_own_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mz-hub@2 with the example files: client id and account hub.2 (its own persistent
    sessions), the shared subscription on, its own console port; every MZ_HUB_ variable a
    real setting."""
    text = UNITS["mz-hub@2.service"].read_text()
    assert environment_files(text, "2") == ["/etc/mz/hub.env", "/etc/mz/hub-2.env"]
    env = unit_environment(text, "2")
    # Later files override earlier ones and Environment=, as systemd applies them.
    env |= parse_env_file((DEPLOY / "hub" / "hub.env.example").read_text())
    worker = parse_env_file((DEPLOY / "hub" / "hub-worker.env.example").read_text())
    worker["MZ_HUB_CONSOLE__PORT"] = "8082"  # the copy for worker 2
    env |= worker
    for name in env:
        hub_field_path(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("change-me", "a-real-secret-for-the-test"))
    settings = load_settings(DEPLOY / "hub" / "hub.example.toml")
    assert settings.broker.client_id == "hub.2"
    assert settings.broker.username == "hub.2"
    assert settings.broker.shared_subscriptions is True
    assert settings.console.port == 8082
    assert settings.sql_url.startswith("postgresql://")
    # The single-worker unit sets no identity of its own: hub.toml's (hub.1) is used.
    assert unit_environment(UNITS["mz-hub.service"].read_text(), "") == {}
    assert "Conflicts=mz-hub.service" in text  # both would be client id hub.1


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("MZ_HUB_STORAG__SQL", "storag is no setting"),  # pydantic-settings would ignore it
        ("MZ_HUB_BROKER__CLIENTID", "broker.clientid is no setting"),
        ("MZ_HUB_BROKER", "is a section, not a key"),
        ("MZ_HUB_LANGUAGE__NL", "language has no keys"),
    ],
)
def test_a_misspelt_variable_is_caught(name: str, why: str) -> None:
    with pytest.raises(AssertionError, match=why):
        hub_field_path(name)
