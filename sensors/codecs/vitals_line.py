"""Spot-check vital-signs devices over a serial line: encode and decode (pure).

Blood-pressure cuffs, pulse oximeters and thermometers speak Bluetooth health profiles
(GATT 0x1810, 0x1822, 0x1809) that need pairing per device; in a Mobiele Zorg unit a
small USB gateway does that and writes one line per measurement to the Pi, in an
NMEA-like format with an XOR checksum so that a torn or garbled line is refused:

    $MZV,1,<device>,<key>=<value>[,<key>=<value>...]*<checksum>\\r\\n

- `1` is the format version; `<device>` what measured (`bp` cuff, `ox` pulse oximeter,
  `th` thermometer, `sc` scale) - informational, the keys carry the meaning;
- keys: `sbp`, `dbp` (mmHg), `hr` (/min), `spo2` (%), `temperature` (degC), `weight`
  (kg), `status` (the device's measurement status bits as an integer, e.g. the GATT
  blood-pressure "measurement status" field; 0 = all good);
- `<checksum>`: two hex digits, XOR of every byte between `$` and `*` (as NMEA 0183).

Example: `$MZV,1,bp,sbp=128,dbp=82,hr=71,status=0*7C`.

`decode_line` returns the readings (our quantities, as the edge's `Reading`s) and raises
`DecodeError` on anything malformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from sensors.errors import DecodeError
from sensors.readings import DecodedFrame, Reading, SerialLine

DEVICE_KIND: Final = "vitals"
VERSION: Final = "1"
DEVICES: Final = frozenset({"bp", "ox", "th", "sc"})
KEYS: Final = frozenset({"sbp", "dbp", "hr", "spo2", "temperature", "weight", "status"})
_LINE_RE: Final = re.compile(rb"^\$(?P<body>[ -)+-~]{1,200})\*(?P<cs>[0-9A-Fa-f]{2})$")


def _checksum(body: bytes) -> int:
    cs = 0
    for b in body:
        cs ^= b
    return cs


def encode_line(device: str, values: Mapping[str, float]) -> bytes:
    """The line (without CR LF) a gateway writes for one measurement."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}")
    parts = []
    for k, v in values.items():
        if k not in KEYS or not math.isfinite(v):
            raise ValueError(f"bad value {k}={v}")
        parts.append(f"{k}={int(v) if k == 'status' else round(v, 2):g}")
    body = ",".join(["MZV", VERSION, device, *parts]).encode("ascii")
    return b"$" + body + b"*" + f"{_checksum(body):02X}".encode("ascii")


def decode_line(sensor: str, line: SerialLine) -> DecodedFrame:
    """One gateway line -> readings. Raises DecodeError on anything malformed."""
    m = _LINE_RE.match(line.line.strip())
    if m is None:
        raise DecodeError(DEVICE_KIND, f"not a $MZV line: {line.line[:40]!r}")
    body = m.group("body")
    if _checksum(body) != int(m.group("cs"), 16):
        raise DecodeError(DEVICE_KIND, "checksum mismatch")
    fields = body.decode("ascii").split(",")
    if len(fields) < 4 or fields[0] != "MZV":
        raise DecodeError(DEVICE_KIND, "too few fields")
    if fields[1] != VERSION:
        raise DecodeError(DEVICE_KIND, f"unknown version {fields[1]!r}")
    if fields[2] not in DEVICES:
        raise DecodeError(DEVICE_KIND, f"unknown device {fields[2]!r}")
    readings: list[Reading] = []
    seen: set[str] = set()
    for f in fields[3:]:
        key, sep, raw = f.partition("=")
        if not sep or key not in KEYS or key in seen:
            raise DecodeError(DEVICE_KIND, f"bad field {f[:30]!r}")
        seen.add(key)
        try:
            value = float(raw)
        except ValueError as exc:
            raise DecodeError(DEVICE_KIND, f"bad number in {f[:30]!r}") from exc
        if not math.isfinite(value):
            raise DecodeError(DEVICE_KIND, f"non-finite value in {f[:30]!r}")
        readings.append(Reading(sensor, key, line.t, value))
    return DecodedFrame(sensor=sensor, t=line.t, readings=tuple(readings))
