"""`mz provision`'s pure parts: the CSV reader, the hub's CA, the edge bundle (loaded by the
edge's own settings loader), and the registry's all-or-nothing bulk add."""

from __future__ import annotations

import stat
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.config import load_settings
from edge.errors import ConfigError
from edge.tls import client_context
from hub.client_ca import CA_CERT, CA_KEY, CaError, ClientCA
from hub.context import Dwelling
from hub.edge_bundle import Bundle, BundleSettings, Staging, edge_toml
from hub.errors import Conflict
from hub.provisioning import ProvisionError, read_csv
from hub.registry import SqliteRegistry

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- CSV ---------------------------------------------------------------------------


def test_a_csv_file_becomes_rows_with_their_line_numbers() -> None:
    rows = read_csv(
        "\ufeffid,label,address,language\n"
        "dw-001,Unit 1,Tuinstraat 1,nl\n"
        "\n"
        'dw-002,"Unit 2, achter",,en\n'
        "dw-003,Unit 3\n"
    )
    assert [(r.line, r.dwelling) for r in rows] == [
        (2, Dwelling("dw-001", "Unit 1", "Tuinstraat 1", "nl")),
        (4, Dwelling("dw-002", "Unit 2, achter", "", "en")),
        (5, Dwelling("dw-003", "Unit 3", "", "nl")),
    ]


def test_every_bad_row_is_named_by_its_line_and_none_is_taken() -> None:
    with pytest.raises(ProvisionError) as info:
        read_csv(
            "id,label,language\n"
            "dw-001,Unit 1,nl\n"
            "Mevr Jansen,Unit 2,nl\n"
            "dw-003,,nl\n"
            "dw-004,Unit 4,de\n"
            "dw-001,Unit 5,nl\n"
            "dw-006,Unit 6,nl,extra\n"
        )
    err = info.value
    assert err.summary == "5 bad row(s); nothing was provisioned"
    assert [line.split(":")[0] for line in err.lines] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert "not a pseudonymous dwelling id" in err.lines[0]
    assert "no label" in err.lines[1]
    assert "language" in err.lines[2]
    assert "also on line 2" in err.lines[3]
    assert "more fields" in err.lines[4]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dwelling,label\ndw-001,Unit 1\n", "missing id"),
        ("id,label,colour\ndw-001,Unit 1,red\n", "unknown colour"),
        ("id,label\n", "names no dwellings"),
        ("", "missing id, label"),
    ],
)
def test_a_bad_header_or_an_empty_file_is_refused(text: str, message: str) -> None:
    with pytest.raises(ProvisionError, match=message):
        read_csv(text)


# -- the hub's CA ------------------------------------------------------------------


def test_the_ca_is_made_once_with_its_key_private(tmp_path: Path) -> None:
    d = tmp_path / "data" / "ca"
    ca = ClientCA.open(d, NOW)
    assert mode(d) == 0o700 and mode(d / CA_KEY) == 0o600
    again = ClientCA.open(d, NOW + timedelta(days=1))
    assert again.cert_pem == ca.cert_pem  # not made anew
    assert [p.name for p in tmp_path.joinpath("data").iterdir()] == ["ca"]  # no leftovers


def test_a_client_certificate_is_the_dwellings_and_signed_by_the_ca(tmp_path: Path) -> None:
    ca = ClientCA.open(tmp_path / "ca", NOW)
    issued = ca.issue("dw-017", NOW)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    root = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(root)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dw-017"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert b"PRIVATE KEY" in issued.key_pem
    assert ca.issue("dw-017", NOW).key_pem != issued.key_pem  # a new key each time


def test_a_ca_whose_files_do_not_match_is_refused(tmp_path: Path) -> None:
    ClientCA.open(tmp_path / "a", NOW)
    ClientCA.open(tmp_path / "b", NOW)
    (tmp_path / "a" / CA_CERT).write_bytes((tmp_path / "b" / CA_CERT).read_bytes())
    with pytest.raises(CaError, match="do not belong together"):
        ClientCA.open(tmp_path / "a", NOW)
    (tmp_path / "b" / CA_KEY).write_text("garbage")
    with pytest.raises(CaError, match="cannot read"):
        ClientCA.open(tmp_path / "b", NOW)


# -- the bundle --------------------------------------------------------------------


def staged_bundle(tmp_path: Path, *, cert: bool) -> Path:
    out = tmp_path / "out"
    install = out / "dw-017"  # the test "installs" the bundle where it was written
    ca = ClientCA.open(tmp_path / "ca", NOW)
    issued = ca.issue("dw-017", NOW) if cert else None
    bundle = Bundle(
        "dw-017",
        "the-password-0123456789",
        issued.cert_pem if issued else None,
        issued.key_pem if issued else None,
    )
    settings = BundleSettings("mqtts://mqtt.example.org:8883", ca.cert_pem, PurePosixPath(install))
    staging = Staging(out)
    staging.add(bundle, settings, NOW)
    [written] = staging.commit()
    assert written == install
    return install


def test_the_bundle_loads_with_the_edges_own_settings_loader(tmp_path: Path) -> None:
    d = staged_bundle(tmp_path, cert=True)
    assert sorted(p.name for p in d.iterdir()) == [
        "ca.crt",
        "client.crt",
        "client.key",
        "edge.toml",
        "password",
    ]
    assert mode(d) == 0o700
    assert {p.name: mode(p) for p in d.iterdir()} == {
        "ca.crt": 0o644,
        "client.crt": 0o644,
        "client.key": 0o600,
        "edge.toml": 0o644,
        "password": 0o600,
    }
    assert "the-password" not in (d / "edge.toml").read_text()
    s = load_settings(d / "edge.toml")
    assert (s.dwelling, s.broker_url, s.tls) == ("dw-017", "mqtts://mqtt.example.org:8883", True)
    assert s.password.get_secret_value() == "the-password-0123456789"
    assert (s.ca_file, s.cert_file, s.key_file) == (
        d / "ca.crt",
        d / "client.crt",
        d / "client.key",
    )
    assert client_context(s) is not None  # the CA, certificate and key load together
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["dw-017"]  # staging gone


def test_without_a_certificate_the_bundle_has_no_cert_keys(tmp_path: Path) -> None:
    d = staged_bundle(tmp_path, cert=False)
    s = load_settings(d / "edge.toml")
    assert s.cert_file is None and s.key_file is None
    assert not (d / "client.key").exists()


def test_the_bundle_keeps_the_example_configurations_shape() -> None:
    """Every key of the bundle's edge.toml is one of deploy/edge/edge.example.toml's (or
    one of the file settings the example leaves to the environment), with its value."""
    example = tomllib.loads((ROOT / "deploy" / "edge" / "edge.example.toml").read_text())
    text = edge_toml(
        Bundle("dw-017", "pw", b"cert", b"key"),
        BundleSettings("mqtts://hub.example.org:8883", b"ca"),
        NOW,
    )
    ours = tomllib.loads(text)
    file_settings = {"password_file", "cert_file", "key_file"}
    assert set(ours) - file_settings <= set(example)
    for key in ("heartbeat_s", "batch_s", "timezone", "fall", "spool"):
        assert ours[key] == example[key], key
    # Unset in both: each kind of device has its own silence limit (edge.config).
    assert "silence_s" not in ours and "silence_s" not in example
    assert ours["ca_file"] == "/etc/mz-edge/ca.crt" and "devices" not in ours


def test_a_client_key_that_does_not_fit_is_a_config_error(tmp_path: Path) -> None:
    d = staged_bundle(tmp_path, cert=True)
    other = ClientCA.open(tmp_path / "ca", NOW).issue("dw-018", NOW)
    (d / "client.key").write_bytes(other.key_pem)
    with pytest.raises(ConfigError, match="cert_file"):
        client_context(load_settings(d / "edge.toml"))


def test_a_discarded_staging_leaves_nothing(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "out")
    staging.add(Bundle("dw-017", "pw"), BundleSettings("mqtts://h:8883"), NOW)
    staging.discard()
    assert list((tmp_path / "out").iterdir()) == []


# -- the registry's bulk add -------------------------------------------------------


def test_add_dwellings_is_all_or_nothing(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    try:
        reg.add_dwelling(Dwelling("dw-002", "Unit 2"))
        batch = [Dwelling(f"dw-{i:03d}", f"Unit {i}") for i in (1, 2, 3)]
        with pytest.raises(Conflict, match="dw-002 already exists"):
            reg.add_dwellings(batch)
        assert [d.id for d in reg.dwellings()] == ["dw-002"]
        reg.add_dwellings([Dwelling(f"dw-{i:03d}", f"Unit {i}") for i in range(10, 510)])
        assert len(reg.dwellings()) == 501
    finally:
        reg.close()


def test_check_config_and_run_load_the_bundles_certificate_and_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    d = staged_bundle(tmp_path, cert=True)

    def check(command: str = "check-config") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mz", "edge", command, "--config", str(d / "edge.toml")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = check()
    assert good.returncode == 0, good.stderr
    assert "tls on" in good.stdout
    other = ClientCA.open(tmp_path / "ca", NOW).issue("dw-018", NOW)
    (d / "client.key").write_bytes(other.key_pem)
    bad = check()
    assert bad.returncode == 2 and "cert_file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    # `mz edge run` refuses to start on it the same way (not a retry loop in the journal).
    refused = check("run")
    assert refused.returncode == 2 and "cert_file" in refused.stderr
