"""Scenario files: what happens in a simulated dwelling, and when (TOML).

    name = "pendant-press"
    speed = 1.0              # scenario seconds per real second (10: ten times faster)
    duration_s = 90          # optional: the run ends here (else it runs until stopped)

    [agent]                  # optional overrides of the edge agent's settings
    heartbeat_s = 10
    silence_s = 60

    [[devices]]
    id = "wearable-1"
    kind = "wearable"         # a BLE accelerometer (own GATT connection), streaming all day
    mount = "waist"           # optional: waist | chest | wrist | pendant
    dataset = "sisfall-dev.npz"  # default; a file in $MZ_DATASETS (else ../shared/datasets)
    replay = { code = "D07", subject = "SA01", trial = 1 }   # optional: played at t = 0

    [[devices]]
    id = "pir-living"
    kind = "ambient"          # a BTHome binary sensor for the routine detector
    role = "motion"           # motion (PIR) | door (contact) | bed | chair (occupancy mats)
    room = "living"           # bedroom, bathroom, kitchen, living, entrance (front door), ...
    interval_s = 600          # keep-alive; state changes are sent at once

    [[devices]]
    id = "vitals-1"
    kind = "vitals"           # the serial gateway of the BP cuff, oximeter, thermometer, scale

    [resident]                # optional: a simulated resident drives the ambient sensors
    seed = 1                  # and the vitals gateway (simulators/residents/)
    sensors = { pir_living = "pir-living", bed_mat = "bed-1", front_door = "door-1" }
    vitals = "vitals-1"       # optional: morning spot checks through this gateway
    learned_days = 14         # optional: pre-learn this many days of routine before the
                              # start (written to the agent's routine state file)

    [[devices]]
    id = "band-1"
    kind = "health_band"      # heart rate + pulse oximetry over GATT (Bluetooth SIG formats);
    interval_s = 5            # the agent gets a vitals wearable (NEWS2, personal trends)
    health = ["heart_rate", "plx_continuous"]   # optional: the characteristics it has
    signal = { hr_rest = 66, spo2 = 97, seed = 1, drifts = [
        { quantity = "hr", per_day = 4.0, from_day = 2 } ] }   # optional

    [[devices]]
    id = "cuff-1"
    kind = "gatt"             # a Bluetooth SIG health device over GATT (exact indication bytes)
    measures = "blood_pressure"   # blood_pressure | thermometer | weight | plx_spot_check
    units = "kpa"             # optional: kpa (cuff), fahrenheit (thermometer), lb (scale)

    [[devices]]
    id = "pendant-1"
    kind = "pendant"          # pendant | bthome (a room sensor: temperature, humidity, motion)
    address = "A4:C1:38:00:00:01"   # optional; derived from the id when absent
    interval_s = 30           # keep-alive (pendant) or measurement interval (bthome)
    battery = 90
    encrypted = false         # optional (pendant, bthome, ambient): encrypted BTHome

    [[events]]
    at = 42                   # scenario seconds from the start
    action = "press"          # press | stop | start | battery | network_down | network_up
                              # | radio_fail | replay | set | measure | vitals
    device = "pendant-1"
    press = "press"           # press | double_press | long_press | ... (BTHome button events)

    [[events]]
    at = 60
    action = "network_down"
    mode = "blackhole"        # blackhole: packets vanish (TCP stalls); reset: connections refused
    for_s = 120               # optional: restore automatically after this long

    [[events]]
    at = 60
    action = "replay"         # a wearable starts a dataset recording (always in real time)
    device = "wearable-1"
    replay = { code = "F01", subject = "SA01", trial = 1 }
    # replay keys (all optional filters): code, subject, trial, label (1 fall, 0 ADL),
    # index (the index-th match, default 0), start_s (skip the recording's first seconds)

    [[events]]
    at = 70
    action = "set"            # an ambient sensor's state: value = 1 (on/open/occupied) or 0
    device = "door-1"
    value = 1

    [[events]]
    at = 80
    action = "measure"        # one spot check through a vitals gateway
    device = "vitals-1"
    values = { sbp = 88, hr = 131 }

    [[events]]
    at = 85
    action = "measure"        # a gatt device: one measurement (sbp, dbp, hr | temperature |
    device = "cuff-1"         # weight | spo2, hr), with what the device reports as wrong
    values = { sbp = 182, dbp = 104, hr = 88 }
    problems = ["cuff_loose"] # optional: body_movement, cuff_loose, improper_position,
                              # sensor_displaced, ongoing, unsuccessful, nan

    [[events]]
    at = 90
    action = "vitals"         # a health band from now on: the resident's levels (hr, spo2)
    device = "band-1"         # and whether it is worn (worn = 0: off the wrist)
    values = { hr = 128, spo2 = 90 }

Pure: parsing and validation only; errors name the file and the offending entry.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import EdgeSettings
from sensors.contract import is_pseudo_id
from sensors.readings import ButtonPress
from sensors.settings import first_error
from simulators.devices.gatt_health import Problem


class ScenarioError(Exception):
    """A scenario file cannot be read or does not make sense."""

    retryable = False

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplaySpec(_Strict):
    """Which dataset recording a wearable plays (filters; the index-th match)."""

    code: str | None = None  # "F01" ... "F15" falls, "D01" ... "D19" daily activities
    subject: str | None = None  # "SA01", "SE06", ...
    trial: Annotated[int, Field(ge=1)] | None = None
    label: Literal[0, 1] | None = None
    index: int = 0
    start_s: Annotated[float, Field(ge=0)] = 0.0  # skip this much of the recording


class SimResident(_Strict):
    """A simulated resident (`simulators.residents`) living in the dwelling."""

    seed: int = 0
    # generator sensor name (simulators.residents.routine.SENSORS) -> scenario device id;
    # the generator's other sensors are not installed in this dwelling
    sensors: dict[str, str] = Field(default_factory=dict)
    vitals: str | None = None  # the vitals gateway device for the morning spot checks
    learned_days: Annotated[int, Field(ge=0, le=60)] = 0


class SimDrift(_Strict):
    """A slow linear change of a health band's level (`simulators.residents.vitals.Drift`)."""

    quantity: Literal["hr", "spo2"]
    per_day: Annotated[float, Field(allow_inf_nan=False)]  # units per day
    from_day: Annotated[int, Field(ge=0)] = 0  # days after the start
    to_day: Annotated[int, Field(ge=0)] | None = None  # stops changing after this day


class BandSignal(_Strict):
    """The resident's vital signs a health band sees (`ContinuousVitals`)."""

    hr_rest: Annotated[float, Field(ge=30, le=200)] = 68.0
    spo2: Annotated[float, Field(ge=60, le=100)] = 96.0
    seed: int = 0
    drifts: list[SimDrift] = Field(default_factory=list)


# gatt devices: the unit each non-default setting belongs to, and a measurement's values
_UNITS_FOR: Final = {"kpa": "blood_pressure", "fahrenheit": "thermometer", "lb": "weight"}
GATT_VALUES: Final = {
    "blood_pressure": ({"sbp", "dbp"}, {"hr"}),  # (required, optional)
    "thermometer": ({"temperature"}, set()),
    "weight": ({"weight"}, set()),
    "plx_spot_check": ({"spo2", "hr"}, set()),
}


class SimDevice(_Strict):
    id: str
    kind: Literal["pendant", "bthome", "wearable", "ambient", "vitals", "health_band", "gatt"]
    address: str | None = None
    interval_s: Annotated[float, Field(gt=0)] = 30.0
    battery: Annotated[int, Field(ge=0, le=100)] = 90
    repeats: Annotated[int, Field(ge=1, le=10)] = 3  # copies of each advertisement
    # pendant, bthome, ambient: encrypted BTHome (AES-CCM) with a bind key derived from the
    # id (`bind_key`; a simulation's key, never a real device's), given to the agent too.
    encrypted: bool = False
    # wearable only
    mount: Literal["waist", "chest", "wrist", "pendant"] | None = None
    dataset: str = "sisfall-dev.npz"
    replay: ReplaySpec | None = None  # played at t = 0
    # ambient only
    role: Literal["motion", "door", "bed", "chair"] | None = None
    room: str | None = None
    # health_band only
    health: list[Literal["heart_rate", "plx_continuous"]] | None = None  # default: both
    signal: BandSignal | None = None
    # gatt only: what it measures (`simulators.devices.gatt_health`) and in which units
    measures: Literal["blood_pressure", "thermometer", "weight", "plx_spot_check"] | None = None
    units: Literal["kpa", "fahrenheit", "lb"] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not is_pseudo_id(self.id):
            raise ValueError(f"device id {self.id!r} is not a pseudonymous id")
        if self.kind != "wearable" and (self.replay is not None or self.mount is not None):
            raise ValueError(f"device {self.id}: replay/mount are for a wearable")
        if (self.kind == "ambient") != (self.role is not None and self.room is not None):
            raise ValueError(f"device {self.id}: role and room go with (only) kind 'ambient'")
        if self.encrypted and self.kind not in ("pendant", "bthome", "ambient"):
            raise ValueError(f"device {self.id}: encrypted is for a BTHome device")
        if self.kind != "health_band" and (self.health is not None or self.signal is not None):
            raise ValueError(f"device {self.id}: health/signal are for a health_band")
        if self.health is not None and (
            not self.health or len(set(self.health)) < len(self.health)
        ):
            raise ValueError(f"device {self.id}: health lists each characteristic once, >= 1")
        if (self.kind == "gatt") != (self.measures is not None):
            raise ValueError(f"device {self.id}: measures goes with (only) kind 'gatt'")
        if self.units is not None and _UNITS_FOR[self.units] != self.measures:
            raise ValueError(
                f"device {self.id}: units {self.units!r} are for a {_UNITS_FOR[self.units]}"
            )
        return self

    @property
    def bind_key(self) -> bytes | None:
        """The simulated device's BTHome bind key (stable per id), if it encrypts."""
        if not self.encrypted:
            return None
        return hashlib.sha256(b"mz-sim-bind-key:" + self.id.encode()).digest()[:16]

    @property
    def mac(self) -> str:
        """The configured address, or a stable locally administered one from the id."""
        if self.address:
            return self.address.upper()
        digest = hashlib.sha256(self.id.encode()).digest()[:5]
        return ":".join(f"{b:02X}" for b in (0xC2, *digest))  # 0xC2: local, unicast


class SimEvent(_Strict):
    at: Annotated[float, Field(ge=0)]
    action: Literal[
        "press",
        "stop",
        "start",
        "battery",
        "network_down",
        "network_up",
        "radio_fail",
        "replay",
        "set",
        "measure",
        "vitals",
    ]
    device: str | None = None
    replay: ReplaySpec | None = None  # for "replay"
    value: Literal[0, 1] | None = None  # for "set"
    values: dict[str, float] | None = None  # for "measure" and "vitals"
    press: ButtonPress = ButtonPress.PRESS
    level: Annotated[int, Field(ge=0, le=100)] | None = None  # for "battery"
    mode: Literal["blackhole", "reset"] = "blackhole"  # for "network_down"
    for_s: Annotated[float, Field(gt=0)] | None = None  # for "network_down"
    # for "measure" on a gatt device: what the device reports as wrong with it
    problems: list[Problem] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        needs_device = self.action in (
            "press",
            "stop",
            "start",
            "battery",
            "replay",
            "set",
            "measure",
            "vitals",
        )
        if needs_device and self.device is None:
            raise ValueError(f"action {self.action!r} needs a device")
        if not needs_device and self.device is not None:
            raise ValueError(f"action {self.action!r} takes no device")
        if self.action == "battery" and self.level is None:
            raise ValueError("action 'battery' needs level")
        if (self.action == "replay") != (self.replay is not None):
            raise ValueError("replay = {...} goes with (and only with) action 'replay'")
        if (self.action == "set") != (self.value is not None):
            raise ValueError("value goes with (and only with) action 'set'")
        if (self.action in ("measure", "vitals")) != bool(self.values):
            raise ValueError("values = {...} goes with (and only with) 'measure' and 'vitals'")
        if self.problems is not None and self.action != "measure":
            raise ValueError("problems go with (only) action 'measure'")
        if self.action == "vitals" and self.values is not None:
            unknown = self.values.keys() - {"hr", "spo2", "worn"}
            if unknown:
                raise ValueError(f"action 'vitals' takes hr, spo2, worn; not {sorted(unknown)}")
        return self


def _check_gatt_measure(i: int, dev: SimDevice, ev: SimEvent) -> None:
    assert dev.measures is not None and ev.values is not None
    required, optional = GATT_VALUES[dev.measures]
    keys = set(ev.values)
    if not required <= keys or keys - required - optional:
        raise ValueError(
            f"events[{i}]: a {dev.measures} measurement takes {sorted(required | optional)},"
            f" not {sorted(keys)}"
        )


class Scenario(_Strict):
    name: str = "scenario"
    description: str = ""
    speed: Annotated[float, Field(gt=0, le=1000)] = 1.0
    duration_s: Annotated[float, Field(gt=0)] | None = None
    agent: dict[str, Any] = Field(default_factory=dict)
    devices: Annotated[list[SimDevice], Field(min_length=1)]
    events: list[SimEvent] = Field(default_factory=list)
    resident: SimResident | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError("device ids must be unique")
        macs = [d.mac for d in self.devices]
        if len(set(macs)) != len(macs):
            raise ValueError("device addresses must be unique")
        for i, ev in enumerate(self.events):
            if ev.device is not None and ev.device not in ids:
                raise ValueError(
                    f"events[{i}] ({ev.action} at {ev.at} s): unknown device {ev.device!r}"
                )
            if ev.action == "press":
                kind = next(d.kind for d in self.devices if d.id == ev.device)
                if kind != "pendant":
                    raise ValueError(
                        f"events[{i}]: only a pendant has a button, {ev.device!r} is {kind}"
                    )
            wants = {
                "replay": "wearable",
                "set": "ambient",
                "measure": "vitals",
                "vitals": "health_band",
            }.get(ev.action)
            if wants is not None:
                target = next(d for d in self.devices if d.id == ev.device)
                kind = target.kind
                if ev.action == "measure" and kind == "gatt":
                    _check_gatt_measure(i, target, ev)
                elif ev.problems is not None:
                    raise ValueError(f"events[{i}]: problems are for a gatt device's measure")
                elif kind != wants:
                    raise ValueError(
                        f"events[{i}]: {ev.action} needs a {wants} device, {ev.device!r} is {kind}"
                    )
            if self.duration_s is not None and ev.at > self.duration_s:
                raise ValueError(f"events[{i}] at {ev.at} s is after duration_s {self.duration_s}")
        if self.resident is not None:
            kinds = {d.id: d.kind for d in self.devices}
            for name, dev in self.resident.sensors.items():
                if kinds.get(dev) != "ambient":
                    raise ValueError(f"resident.sensors.{name}: {dev!r} is not an ambient device")
            if self.resident.vitals is not None and kinds.get(self.resident.vitals) != "vitals":
                raise ValueError(
                    f"resident.vitals: {self.resident.vitals!r} is not a vitals device"
                )
        forbidden = {"dwelling", "password", "broker_url", "devices", "spool"} & self.agent.keys()
        if forbidden:
            raise ValueError(f"[agent] may not set {sorted(forbidden)}: they come from the caller")
        unknown = self.agent.keys() - EdgeSettings.model_fields.keys()
        if unknown:
            raise ValueError(f"[agent]: unknown agent setting(s) {sorted(unknown)}")
        return self

    @property
    def timeline(self) -> list[SimEvent]:
        """Events in time order (stable for equal times: file order)."""
        return sorted(self.events, key=lambda e: e.at)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, f"not valid TOML: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, first_error(exc, "scenario")) from exc


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioError(str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), f"cannot read: {exc}") from exc
    return parse_scenario(text, str(path))
