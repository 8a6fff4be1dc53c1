"""`mz decode ...`: decode a device's bytes the way the edge does, for installers.

`mz decode bthome HEX [--key KEY] [--mac MAC]` decodes BTHome v2 service data (the bytes
under UUID 0xFCD2, e.g. from nRF Connect or `btmon`); `mz decode gatt UUID HEX` a Bluetooth
SIG health characteristic's value. Both print the decoded readings as JSON on stdout, after
the same plausibility screen the edge applies, or a clear error on stderr (exit status 1),
so a new device's bytes can be checked before it is configured.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Final

import typer

from sensors import plausibility
from sensors.errors import DecodeError
from sensors.readings import DecodedFrame

decode_app = typer.Typer(no_args_is_help=True)

_T: Final = 0.0  # decoded values carry no time here
_SENSOR: Final = "decode"
_SEPARATORS: Final = re.compile(r"[\s:\-]")
_MAC_RE: Final = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _hex(text: str, what: str) -> bytes:
    clean = _SEPARATORS.sub("", text)
    if clean[:2].lower() == "0x":
        clean = clean[2:]
    try:
        data = bytes.fromhex(clean)
    except ValueError:
        raise _fail(f"{what} is not hexadecimal: {text!r}") from None
    if not data:
        raise _fail(f"{what} is empty")
    return data


def _readings(frame: DecodedFrame) -> list[dict[str, Any]]:
    # NaN (a device's special value, flagged in `status`) is not JSON: null.
    return [
        {
            "quantity": r.quantity,
            "value": None if math.isnan(r.value) else r.value,
            "unit": _unit(r.quantity),
        }
        for r in frame.readings
    ]


def _unit(quantity: str) -> str | None:
    return plausibility.UNITS.get(plausibility.instance_base(quantity)[0])


def _rejected(frame: DecodedFrame) -> list[dict[str, Any]]:
    return [
        {
            "quantity": r.quantity,
            "value": r.value,
            "problem": plausibility.problem(r.quantity, r.value),
        }
        for r in frame.rejected
    ]


def _print(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, allow_nan=False))


@decode_app.command("bthome")
def bthome_command(
    data: Annotated[list[str], typer.Argument(help="The service data under UUID 0xFCD2, in hex.")],
    key: Annotated[
        str | None, typer.Option(help="The device's bind key (32 hex digits), if it encrypts.")
    ] = None,
    mac: Annotated[
        str | None,
        typer.Option(help="The device's MAC address (needed to decrypt: it is in the nonce)."),
    ] = None,
) -> None:
    """Decode BTHome v2 service data and print its readings and button events as JSON."""
    from sensors.codecs.bthome import SERVICE_UUID, decode_advertisement, parse_bind_key
    from sensors.readings import Advertisement

    raw = _hex(" ".join(data), "the service data")
    bind_key = None
    if key is not None:
        try:
            bind_key = parse_bind_key(key)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    if mac is not None and not _MAC_RE.match(mac):
        raise _fail(f"not a MAC address: {mac!r} (AA:BB:CC:DD:EE:FF)")
    if mac is None and raw[0] & 0x02 and len(raw) >= 7:
        mac = ":".join(f"{b:02X}" for b in raw[1:7][::-1])  # the frame names its device
    encrypted = bool(raw[0] & 0x01)
    if encrypted and (bind_key is None or mac is None):
        raise _fail(
            "the frame is encrypted: pass the device's bind key (--key) and MAC address (--mac)"
        )
    adv = Advertisement(
        address=(mac or "00:00:00:00:00:00").upper(),
        service_data={SERVICE_UUID: raw},
        rssi=0,
        t=_T,
    )
    try:
        frame = decode_advertisement(_SENSOR, adv, key=bind_key)
    except DecodeError as exc:
        raise _fail(exc.detail) from None
    _print(
        {
            "kind": "bthome",
            "encrypted": encrypted,
            "trigger_based": bool(raw[0] & 0x04),
            "packet_id": frame.packet_id,
            "readings": _readings(frame),
            "buttons": [{"press": b.press.value, "button": b.index} for b in frame.buttons],
            "rejected": _rejected(frame),
            "skipped": list(frame.skipped),
        }
    )


@decode_app.command("gatt")
def gatt_command(
    uuid: Annotated[str, typer.Argument(help="The characteristic: 16-bit (2A37) or 128-bit UUID.")],
    data: Annotated[list[str], typer.Argument(help="The characteristic's value, in hex.")],
) -> None:
    """Decode a Bluetooth SIG health characteristic's value and print its readings as JSON."""
    from sensors.codecs.ble_health import health_readings, sig_uuid

    characteristic = _characteristic(uuid, sig_uuid)
    raw = _hex(" ".join(data), "the value")
    try:
        frame = health_readings(_SENSOR, characteristic, raw, _T)
    except DecodeError as exc:
        raise _fail(exc.detail) from None
    status = int(next((r.value for r in frame.readings if r.quantity == "status"), 0))
    if status == 0:  # as the edge does: a clean status vouches for the values
        frame = plausibility.screen(frame)
    _print(
        {
            "kind": "gatt",
            "characteristic": characteristic,
            "usable": status == 0 and not frame.rejected,
            "status": status,
            "readings": _readings(frame),
            "rejected": _rejected(frame),
        }
    )


def _characteristic(text: str, sig_uuid: Any) -> str:
    t = text.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    if re.fullmatch(r"[0-9a-f]{4}", t):
        return str(sig_uuid(int(t, 16)))
    if re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", t):
        return t
    raise _fail(f"not a characteristic UUID: {text!r} (2A37 or a 128-bit UUID)")
