"""Typed in-process values shared by drivers, codecs, the edge pipeline and simulators.

Frozen slotted dataclasses: cheap, hashable, and no library type (bleak, pyserial) leaks
past a driver. Times are UNIX seconds (UTC) as read by the driver at reception, because
that is what the wire contract carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One BLE advertisement as the radio saw it (what the BLE driver yields)."""

    address: str  # "AA:BB:CC:DD:EE:FF", upper case
    service_data: Mapping[str, bytes]  # by full 128-bit service UUID, lower case
    rssi: int  # dBm
    t: float  # reception time, UNIX seconds
    name: str = ""


@dataclass(frozen=True, slots=True)
class SerialLine:
    """One line read from a serial device, without its line terminator."""

    port: str
    line: bytes
    t: float


@dataclass(frozen=True, slots=True)
class Notification:
    """One GATT notification from a connected BLE device (what the GATT driver yields).

    `data` is the characteristic value as sent; the codec of the device's kind decodes it.
    """

    address: str  # "AA:BB:CC:DD:EE:FF", upper case
    characteristic: str  # 128-bit UUID, lower case
    data: bytes
    t: float  # reception time, UNIX seconds


Frame = Advertisement | SerialLine | Notification


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value of one sensor at one moment (the wire's Reading, in process)."""

    sensor: str
    quantity: str
    t: float
    value: float


class ButtonPress(StrEnum):
    """What a button did; the names of the BTHome v2 button events (object 0x3A)."""

    PRESS = "press"
    DOUBLE_PRESS = "double_press"
    TRIPLE_PRESS = "triple_press"
    LONG_PRESS = "long_press"
    LONG_DOUBLE_PRESS = "long_double_press"
    LONG_TRIPLE_PRESS = "long_triple_press"
    HOLD_PRESS = "hold_press"
    HOLD_RELEASE = "hold_release"


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    sensor: str
    press: ButtonPress
    t: float
    # Which button of a multi-button device (BTHome: the n-th button object of the
    # frame, from 1); None for a device with one button.
    index: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """Everything one device frame said: readings, button events, battery level."""

    sensor: str
    t: float
    readings: tuple[Reading, ...] = ()
    buttons: tuple[ButtonEvent, ...] = ()
    battery: float | None = None  # percent, when the frame carried it
    packet_id: int | None = None
    # Readings refused as physically implausible (`sensors.plausibility.screen`): counted
    # and logged with the sensor id, never scored or stored.
    rejected: tuple[Reading, ...] = ()
    # Objects of the frame that could not be read (an unknown object id and whatever
    # followed it, an unknown event code) or that we do not use (a BTHome pressure).
    skipped: tuple[str, ...] = ()
