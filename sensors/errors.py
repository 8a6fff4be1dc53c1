"""Errors raised by the pure sensor-side code: the wire contract and the codecs."""

from __future__ import annotations


class SensorsError(Exception):
    """Base class for every error raised by the `sensors` package."""

    retryable = False


class ContractError(SensorsError):
    """A message or topic does not satisfy wire contract v1.

    `reason` is a short, stable code suitable for counting rejections per reason
    (`bad_topic`, `too_large`, `bad_utf8`, `bad_json`, `unknown_version`, `non_finite`,
    `schema`, `out_of_range`, `bad_text`, `detail_size`, `ts_window`, `dwelling_mismatch`,
    `type_mismatch`; each is explained in the docstring of `sensors.contract`). Readings
    refused one by one (`sensors.contract.split_readings`) are counted with
    `reading_unknown_quantity`, `reading_range` and `reading_time` instead; they never
    raise.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class DecodeError(SensorsError):
    """A device frame (BLE advertisement, GATT notification, serial line) is malformed."""

    def __init__(self, device_kind: str, detail: str) -> None:
        super().__init__(f"{device_kind}: {detail}")
        self.device_kind = device_kind
        self.detail = detail


class StaleCounterError(DecodeError):
    """An encrypted frame whose counter is not newer than the last one accepted from the
    device: a replay (or a device whose counter went back). Refused and counted."""


class CommandRefused(SensorsError):
    """A hub command the edge will not carry out (`sensors.commands.parse`).

    `reason` is a short, stable code the edge counts and sends back in its acknowledgement
    (`unknown_command`, `bad_args`, `stale`, or the edge's own `not_saved` and `failed`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
