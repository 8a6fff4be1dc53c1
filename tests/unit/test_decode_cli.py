"""`mz decode`: an installer's check of a device's bytes, as JSON or a clear error."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from mz.cli import app

PEER_KEY = "231d39c1d7cc1ab1aee224cd096db932"
PEER_MAC = "54:48:E6:8F:80:A5"
# bthome-ble's test_bindkey_correct frame: 25.06 degC, 50.55 % (tests/data/...vectors.json)
PEER_FRAME = "41a47266c95f730011223378237214"


def run(*args: str) -> tuple[int, Any, str]:
    res = CliRunner().invoke(app, ["decode", *args])
    out = json.loads(res.stdout) if res.exit_code == 0 else None
    return res.exit_code, out, res.stderr


def test_bthome_pounds_come_out_in_kilograms() -> None:
    code, out, _ = run("bthome", "40 07 3e 1d")
    assert code == 0
    assert out["readings"] == [{"quantity": "weight", "value": 33.956, "unit": "kg"}]


def test_bthome_encrypted_with_key_and_mac() -> None:
    code, out, _ = run("bthome", PEER_FRAME, "--key", PEER_KEY, "--mac", PEER_MAC)
    assert code == 0 and out["encrypted"] is True
    assert {r["quantity"]: r["value"] for r in out["readings"]} == {
        "humidity": 50.55,
        "temperature": 25.06,
    }


def test_bthome_encrypted_without_key_or_with_a_wrong_key_is_a_clear_error() -> None:
    code, out, err = run("bthome", PEER_FRAME)
    assert code == 1 and out is None and "--key" in err and "--mac" in err
    code, _, err = run("bthome", PEER_FRAME, "--key", "00" * 15 + "01", "--mac", PEER_MAC)
    assert code == 1 and "does not authenticate" in err
    code, _, err = run("bthome", PEER_FRAME, "--key", "abc", "--mac", PEER_MAC)
    assert code == 1 and "32 hexadecimal digits" in err


def test_bthome_shows_buttons_rejections_and_skipped_objects() -> None:
    # battery 167 %, a 4-button frame (button 2 hold 0xFE), then an unknown object 0xEE.
    code, out, _ = run("bthome", "40 01 a7 3a 00 3a fe ee 01")
    assert code == 0
    assert out["readings"] == []
    assert out["buttons"] == [{"press": "hold_press", "button": 2}]
    assert out["rejected"] == [
        {"quantity": "battery", "value": 167.0, "problem": "battery 167 outside 0..100"}
    ]
    assert out["skipped"] == ["unknown object 0xee at offset 6 (2 bytes)"]


def test_bthome_garbage_is_an_error_not_a_traceback() -> None:
    for data in ("zz", "20 00 01", "40 ee"):
        code, out, err = run("bthome", data)
        assert code == 1 and out is None and err.startswith("error: "), data


def test_gatt_by_short_and_long_uuid() -> None:
    for uuid in ("2A37", "0x2a37", "00002a37-0000-1000-8000-00805f9b34fb"):
        code, out, _ = run("gatt", uuid, "06 48")  # contact detected, 72 bpm
        assert code == 0
        assert out["usable"] is True
        assert [(r["quantity"], r["value"]) for r in out["readings"]] == [
            ("hr", 72.0),
            ("status", 0.0),
        ]


def test_gatt_special_values_are_null_and_unusable() -> None:
    code, out, _ = run("gatt", "2a5f", "00 ff07 4800")  # SpO2 NaN, 72 bpm
    assert code == 0 and out["usable"] is False and out["status"] != 0
    assert out["readings"][0] == {"quantity": "spo2", "value": None, "unit": "%"}


def test_gatt_an_impossible_value_with_a_clean_status_is_rejected() -> None:
    code, out, _ = run("gatt", "2a5f", "00 0000 4800")  # SpO2 0 %, "clean"
    assert code == 0 and out["usable"] is False
    assert [r["quantity"] for r in out["rejected"]] == ["spo2"]


def test_gatt_errors() -> None:
    assert run("gatt", "2a99", "00")[2].startswith("error: not a health characteristic")
    assert "not a characteristic UUID" in run("gatt", "xyz", "00")[2]
    assert "error: " in run("gatt", "2a37", "01 48")[2]  # u16 declared, 1 byte


def test_bthome_with_the_mac_in_the_frame_needs_no_mac_option() -> None:
    # bthome-ble's test_bthome_with_mac_encrypted: device-info 0x43 carries the MAC.
    frame = "43a5808fe64854f196c06ffb4900112233f08ecbde"
    code, out, _ = run("bthome", frame, "--key", PEER_KEY)
    assert code == 0
    assert {r["quantity"] for r in out["readings"]} == {"humidity", "temperature"}
