"""`mz provision fallback`: the edge's local copy of the routing policy, from the hub's
registry into a 0600 file the real agent settings read (`fallback_file`)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.model import Contact
from alerts.routing import Policy, Recipient
from edge.cli import app as edge_app
from edge.config import load_settings
from edge.errors import ConfigError
from hub.context import Dwelling
from hub.edge_bundle import BundleError
from hub.edge_fallback import fallback_copy
from hub.provision_cli import app
from hub.registry import SqliteRegistry

pytestmark = pytest.mark.integration


def edge_toml(tmp_path: Path, fallback_file: Path) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(
        f'dwelling = "dw-001"\npassword = "pw-dw-001"\nfallback_file = "{fallback_file}"\n'
    )
    return path


def test_the_registry_s_recipients_with_a_phone_become_the_agent_s_contacts(
    tmp_path: Path,
) -> None:
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    reg.add_dwelling(Dwelling("dw-001", "Unit 3, Tuinstraat"))
    reg.add_contact(
        Contact("c-anna", "dw-001", "Anna", "anna@example.org", "nl", 1, phone="+31 6 1234 5678")
    )
    reg.add_contact(Contact("c-nophone", "dw-001", "Zonder", "z@example.org", "nl", 2))
    reg.add_contact(
        Contact("c-bob", "dw-001", "Bob", "bob@example.org", "en", 3, phone="+44-7700-900123")
    )
    reg.add_contact(
        Contact("c-inst", "dw-001", "Ines", None, "nl", 4, phone="+31611111111", role="installer")
    )
    reg.close()
    out = tmp_path / "bundles"
    r = CliRunner().invoke(
        app,
        [
            "fallback",
            "dw-001",
            "--modem",
            "/dev/ttyUSB2",
            "--label",
            "Tuinstraat 3",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "2 contacts" in r.output and "skipped c-nophone" in r.output
    assert "+31" not in r.output and "5678" not in r.output  # no phone number printed
    assert 'fallback_file = "/etc/mz-edge/fallback.toml"' in r.output
    written = out / "dw-001" / "fallback.toml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    settings = load_settings(edge_toml(tmp_path, written))
    fb = settings.fallback
    assert fb is not None and fb.modem == "/dev/ttyUSB2" and fb.label == "Tuinstraat 3"
    assert [(c.id, c.phone.get_secret_value(), c.language) for c in fb.contacts] == [
        ("c-anna", "+31612345678", "nl"),
        ("c-bob", "+447700900123", "en"),
    ]
    assert "+31612345678" not in repr(settings)  # a SecretStr
    checked = CliRunner().invoke(
        edge_app, ["check-config", "--config", str(tmp_path / "edge.toml")]
    )
    assert checked.exit_code == 0, checked.output
    assert "GSM fallback: modem /dev/ttyUSB2, after 120 s, contacts c-anna, c-bob" in checked.output
    assert "+31" not in checked.output


def test_nobody_to_text_is_a_clear_error(tmp_path: Path) -> None:
    policy = Policy((Recipient("c-anna", 300.0),))
    with pytest.raises(BundleError, match=r"no recipient .* international phone"):
        fallback_copy(
            "dw-001",
            policy,
            [Contact("c-anna", "dw-001", "Anna", None, phone="0612345678")],
            modem="/dev/ttyUSB2",
        )


def test_a_fallback_file_that_is_missing_or_doubled_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fallback_file .*: file not found"):
        load_settings(edge_toml(tmp_path, tmp_path / "nope.toml"))
    path = edge_toml(tmp_path, tmp_path / "nope.toml")
    path.write_text(path.read_text() + '[fallback]\nmodem = "/dev/ttyUSB2"\n')
    with pytest.raises(ConfigError, match="both set"):
        load_settings(path)
