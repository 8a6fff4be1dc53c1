"""The edge agent's settings: one object, from a TOML file plus `MZ_EDGE_...` environment.

Built once in the CLI and passed down; nothing reads the environment elsewhere. Nested
values are overridden with a double underscore, e.g. `MZ_EDGE_SPOOL__MAX_MESSAGES=5000`,
`MZ_EDGE_PASSWORD=...` (the usual way to keep the secret out of the file), or
`password_file` naming a file that holds it (what `mz provision` writes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from edge.detectors.fall_alarm import MIN_SILENT_S
from edge.errors import ConfigError
from sensors.contract import AlarmKind, is_pseudo_id
from sensors.settings import FileSettings, SettingsFileError, first_error, read_toml

_MAC_RE: Final = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_BIND_KEY_RE: Final = re.compile(r"^[0-9A-Fa-f]{32}$")
_UUID_RE: Final = re.compile(r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
# Values that mean "somebody forgot to set the secret" (compared case-insensitively).
_PLACEHOLDERS: Final = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "xxx", "todo", "placeholder"}
)


def _pseudo_id(value: str) -> str:
    if not is_pseudo_id(value):
        raise ValueError(
            f"{value!r} is not a pseudonymous id (lower-case letters, digits, '-', '_'; 2-64)"
        )
    return value


# How long a device that speaks rarely may be quiet when nothing is configured for it:
# a vital-signs device is used once or twice a day (36 h), an ambient binary sensor speaks
# on change plus a slow keep-alive (24 h), a pendant sends a keep-alive now and then (2 h).
# Others (a wearable's GATT stream, a climate sensor advertising every few seconds): the
# agent's `silence_s` default.
SILENCE_BY_KIND: Final = {"vitals": 129_600.0, "pendant": 7_200.0}
SILENCE_BY_ROLE: Final = {
    "motion": 86_400.0,
    "door": 86_400.0,
    "bed": 86_400.0,
    "chair": 86_400.0,
    "vitals": 129_600.0,
}


def default_silence(device: DeviceConfig, otherwise: float) -> float:
    if device.kind == "wearable":
        return otherwise  # notifies continuously, whatever its role
    if device.kind in SILENCE_BY_KIND:
        return SILENCE_BY_KIND[device.kind]
    return SILENCE_BY_ROLE.get(device.role or "", otherwise)


class SupervisionSettings(BaseModel):
    """A device's supervision (`edge.supervision`): technical alarms when it cannot be
    relied on. Unset limits take the defaults of the device's kind and role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # False: no technical alarms for this device (its status and events stay).
    alarms: bool = True
    # How often the device reports when all is well; silent after 3 missed reports
    # (the device's `silence_s`, when set, wins).
    interval_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # A battery level at or below this is `battery_low` (0: not watched).
    low_battery_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 20.0
    # A binary sensor "on" longer than this is `sensor_stuck` (0: not watched; default by
    # role: motion 2 h, bed/chair 16 h, door 12 h, others not watched).
    stuck_on_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    # A wearable with no movement this long is `not_worn` (0: not watched; default 3 h).
    not_worn_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class DeviceConfig(BaseModel):
    """One device in the dwelling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    # vitals: a serial gateway of spot-check devices (`sensors.codecs.vitals_line`)
    # gatt: a Bluetooth SIG health device over GATT (blood-pressure cuff, thermometer,
    # scale, spot-check oximeter; `edge.drivers.gatt.GattHealthDevice`): `health` lists
    # what it indicates, and it is a vital-signs device (role "vitals", the default).
    kind: Literal["pendant", "bthome", "wearable", "vitals", "gatt"]
    transport: Literal["ble", "serial"] = "ble"
    address: str | None = None  # BLE MAC, for transport "ble"
    port: str | None = None  # serial device or pyserial URL, for transport "serial"
    baudrate: Annotated[int, Field(gt=0)] = 115200
    silence_s: Annotated[float, Field(gt=0)] | None = None  # overrides the agent default
    # wearable only: where it is worn (the fall detector assumes no axis, so this is for
    # the hub's records and the installer's checklist) and the accelerometer
    # characteristic it notifies (`edge.drivers.gatt.ACCEL_CHARACTERISTIC` by default).
    mount: Literal["waist", "chest", "wrist", "pendant"] | None = None
    characteristic: str | None = None
    # wearable only: whether it notifies our accelerometer frames (-> the fall chain; a
    # health band without one says false), and the Bluetooth SIG health characteristics
    # it notifies on the same connection (`sensors.codecs.ble_health`): "heart_rate"
    # (Heart Rate Measurement 0x2A37) and/or "plx_continuous" (PLX Continuous
    # Measurement 0x2A5F). Their `hr` / `spo2` readings go to the hub, and with
    # role "vitals" also to NEWS2 (as continuous data) and the personal trends.
    # A gatt device (and a wearable, if it has them) also: "blood_pressure" (0x2A35),
    # "thermometer" (Temperature Measurement 0x2A1C), "weight" (0x2A9D), "plx_spot_check"
    # (0x2A5E) and "battery" (Battery Level 0x2A19, to the status message).
    accelerometer: bool = True
    health: list[
        Literal[
            "heart_rate",
            "plx_continuous",
            "plx_spot_check",
            "blood_pressure",
            "thermometer",
            "weight",
            "battery",
        ]
    ] = Field(default_factory=list)
    # What the device's readings mean to the detectors: an ambient sensor for the routine
    # detector (motion: a PIR; door: a door/window contact; bed/chair: an occupancy mat)
    # in `room` ("entrance" is the front door's room), or a vital-signs spot-check device
    # (thermometer, scale, ...: its readings go to NEWS2, not to the room climate).
    role: Literal["motion", "door", "bed", "chair", "vitals"] | None = None
    room: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None
    # pendant/bthome only: the device's BTHome bind key (32 hex digits) if it encrypts
    # (AES-CCM). With a key, plaintext frames from the device are refused (a downgrade).
    # A secret (SecretStr: never in a repr or log line); keep edge.toml 0600.
    bind_key: SecretStr | None = None
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)

    def bind_key_bytes(self) -> bytes | None:
        """The bind key's 16 bytes (None: the device does not encrypt)."""
        if self.bind_key is None:
            return None
        return bytes.fromhex(self.bind_key.get_secret_value().strip())

    @model_validator(mode="after")
    def _check(self) -> Self:
        _pseudo_id(self.id)
        if self.transport == "ble":
            if self.address is None or not _MAC_RE.match(self.address):
                raise ValueError(f"device {self.id}: transport 'ble' needs address = 'AA:BB:..'")
            object.__setattr__(self, "address", self.address.upper())
        elif not self.port:
            raise ValueError(f"device {self.id}: transport 'serial' needs port")
        if self.kind == "vitals" and self.transport != "serial":
            raise ValueError(f"device {self.id}: a vitals gateway is a serial device")
        if self.kind in ("pendant", "bthome") and self.transport != "ble":
            raise ValueError(f"device {self.id}: a {self.kind} is a BTHome BLE device")
        if self.kind == "gatt":
            self._check_gatt()
        elif self.kind != "wearable" and (
            self.mount or self.characteristic or self.health or not self.accelerometer
        ):
            raise ValueError(
                f"device {self.id}: mount/characteristic/accelerometer/health are for a wearable"
            )
        if self.kind == "wearable" and set(self.health) - {
            "heart_rate",
            "plx_continuous",
            "battery",
        }:
            raise ValueError(
                f"device {self.id}: a wearable's health is heart_rate, plx_continuous or"
                " battery; spot-check characteristics are for a kind = 'gatt' device"
            )
        if len(set(self.health)) != len(self.health):
            raise ValueError(f"device {self.id}: health lists a characteristic twice")
        if self.kind == "wearable" and not self.accelerometer:
            if self.characteristic is not None:
                raise ValueError(
                    f"device {self.id}: characteristic is the accelerometer's, but"
                    " accelerometer = false"
                )
            if not self.health:
                raise ValueError(
                    f"device {self.id}: a wearable without accelerometer needs health"
                    " characteristics (heart_rate, plx_continuous)"
                )
        if self.kind == "wearable" and self.role == "vitals" and not self.health:
            raise ValueError(
                f'device {self.id}: a vitals wearable needs health = ["heart_rate", ...]'
            )
        if self.bind_key is not None:
            if self.kind not in ("pendant", "bthome"):
                raise ValueError(f"device {self.id}: bind_key is for a BTHome device")
            key = self.bind_key.get_secret_value().strip()
            if not _BIND_KEY_RE.match(key):
                raise ValueError(f"device {self.id}: bind_key must be 32 hexadecimal digits")
            if len(set(key.lower())) == 1:  # 000..0, fff..f: a placeholder, not a key
                raise ValueError(f"device {self.id}: bind_key is a placeholder")
        if self.supervision.not_worn_s and not (self.kind == "wearable" and self.accelerometer):
            raise ValueError(
                f"device {self.id}: supervision.not_worn_s is for a wearable with an accelerometer"
            )
        if self.role in ("motion", "door", "bed", "chair") and self.room is None:
            raise ValueError(f"device {self.id}: an ambient sensor ({self.role}) needs room")
        if self.characteristic is not None:
            if not _UUID_RE.match(self.characteristic):
                raise ValueError(f"device {self.id}: characteristic must be a 128-bit UUID")
            object.__setattr__(self, "characteristic", self.characteristic.lower())
        return self

    def _check_gatt(self) -> None:
        if self.transport != "ble":
            raise ValueError(f"device {self.id}: a gatt device is a BLE device")
        if self.mount or self.characteristic:
            raise ValueError(f"device {self.id}: mount/characteristic are for a wearable")
        if not set(self.health) - {"battery"}:
            raise ValueError(
                f"device {self.id}: a gatt device needs health = [...] with what it measures"
                " (blood_pressure, thermometer, weight, plx_spot_check, ...)"
            )
        if self.role is None:
            object.__setattr__(self, "role", "vitals")
        elif self.role != "vitals":
            raise ValueError(f"device {self.id}: a gatt health device has role 'vitals'")


# A spot-check device is used a few times a day at most: silent only after this long
# without a measurement (unless the device sets silence_s).
GATT_SILENCE_S: Final = 48 * 3600.0


class FallSettings(BaseModel):
    """The fall alarm policy (`edge.detectors.fall_alarm`); see docs/falls.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The resident's time to say "ik ben oke" (long press) before the alarm goes out.
    cancel_window_s: Annotated[float, Field(ge=0)] = 30.0
    # No recovery this long after the impact: long lie (critical).
    long_lie_s: Annotated[float, Field(gt=0)] = 300.0
    # A hard impact, then the wearable silent this long before the detector saw what
    # followed (broken, battery out, out of range): fall alarm. 0 turns it off.
    silent_after_impact_s: Annotated[float, Field(ge=0)] = 60.0
    # The detector is advanced to `now - link_grace_s` on the agent's tick, so samples
    # still in flight over BLE are not cut off from a decision.
    link_grace_s: Annotated[float, Field(ge=0, le=10)] = 1.0

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.long_lie_s < self.cancel_window_s:
            raise ValueError("fall.long_lie_s must be >= fall.cancel_window_s")
        if 0 < self.silent_after_impact_s < MIN_SILENT_S:
            raise ValueError(f"fall.silent_after_impact_s must be 0 (off) or >= {MIN_SILENT_S:g}")
        return self


class TrendRuleSettings(BaseModel):
    """One care-plan trend rule (`edge.detectors.trends.TrendRule`); see docs/early-warning.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    metric: Literal["resting_hr", "spo2", "temp", "weight"]
    # above_baseline / below_baseline: by `delta` on `days` days running; rise_within:
    # `delta` above the lowest of the previous `days` days; robust_z: |z| >= `delta`.
    kind: Literal["above_baseline", "below_baseline", "rise_within", "robust_z"]
    delta: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    days: Annotated[int, Field(ge=1, le=28)]
    severity: Literal["low", "medium", "high", "critical"] = "medium"


class TrendsSettings(BaseModel):
    """Personal trends (`edge.detectors.trends`): the baseline and the care plan's rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline_days: Annotated[int, Field(ge=3, le=90)] = 14
    min_baseline_days: Annotated[int, Field(ge=2, le=90)] = 7
    # None: the defaults (`edge.detectors.trends.DEFAULT_RULES`); a list replaces them all
    # (an empty list: no trend alarms for this resident).
    rules: list[TrendRuleSettings] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.min_baseline_days > self.baseline_days:
            raise ValueError("trends.min_baseline_days must be <= trends.baseline_days")
        names = [r.name for r in self.rules or ()]
        if len(names) != len(set(names)):
            raise ValueError("trends.rules: rule names must be unique")
        return self


class SpoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Path("/var/lib/mz-edge/spool.sqlite")
    # ~1 batch/s: 200,000 messages is more than two days offline.
    max_messages: Annotated[int, Field(ge=10)] = 200_000
    max_bytes: Annotated[int, Field(ge=10_000)] = 256 * 1024 * 1024


_E164_RE: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
# What an SMS may carry unchanged (edge.drivers.gsm.check_text): the dwelling's label.
_SMS_LABEL_RE: Final = re.compile(r"^[A-Za-z0-9 .,:;!?'()+\-/&#]{0,40}$")


_ALARM_KINDS_TEXTED: Final[list[AlarmKind]] = [k for k in AlarmKind if k is not AlarmKind.TECHNICAL]


class FallbackContact(BaseModel):
    """A mantelzorger the edge texts itself when the hub cannot be reached: the local copy
    of one recipient of the hub's routing policy (alerts.routing), delivered with the
    bundle (`mz provision`), never over MQTT. The phone number is personal data: a
    SecretStr, so no repr or log shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # the hub's contact id (pseudonymous): the hub learns who was texted
    phone: SecretStr  # international, +<country code><number>
    language: Literal["nl", "en"] = "nl"

    @model_validator(mode="after")
    def _check(self) -> Self:
        _pseudo_id(self.id)
        if not _E164_RE.fullmatch(self.phone.get_secret_value()):
            raise ValueError(
                f"fallback contact {self.id}: phone must be international, +<country><number>"
            )
        return self


class FallbackSettings(BaseModel):
    """The local fallback (docs/edge.md "GSM fallback"): an alarm the hub has not confirmed
    `after_s` after it was raised is texted by the dwelling's own GSM modem to every
    contact here, and a local sounder (if any) sounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modem: str  # the modem's serial device, or a pyserial URL (socket://host:port)
    baudrate: Annotated[int, Field(gt=0)] = 115200
    after_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    # A send that failed (no network, no signal) is tried again this often, as long as
    # the hub has not confirmed the alarm.
    retry_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    check_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    # The modem's registration and signal are checked this often (a WARNING when it could
    # not text), so a dead SIM is found before an alarm needs it.
    probe_s: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    command_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    send_timeout_s: Annotated[float, Field(gt=0, le=300)] = 60.0
    # How the text names the dwelling ("Tuinstraat 3"); only on the Pi and in the SMS.
    label: str = ""
    # Which alarms are texted (technical trouble is the operators' business).
    kinds: list[AlarmKind] = Field(default_factory=lambda: _ALARM_KINDS_TEXTED.copy())
    contacts: Annotated[list[FallbackContact], Field(min_length=1, max_length=5)]
    # A local sounder on a serial line: `sounder_on` is written (a line) when an alarm is
    # texted, `sounder_off` `sounder_s` later.
    sounder: str | None = None
    sounder_baudrate: Annotated[int, Field(gt=0)] = 9600
    sounder_on: Annotated[str, StringConstraints(pattern=r"^[ -~]{1,64}$")] = "ON"
    sounder_off: Annotated[str, StringConstraints(pattern=r"^[ -~]{1,64}$")] = "OFF"
    sounder_s: Annotated[float, Field(gt=0, le=3600)] = 60.0

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.modem.strip():
            raise ValueError("fallback.modem: the modem's serial device or socket:// URL")
        if not _SMS_LABEL_RE.fullmatch(self.label):
            raise ValueError(
                "fallback.label: at most 40 letters, digits, spaces and plain punctuation"
            )
        ids = [c.id for c in self.contacts]
        if len(ids) != len(set(ids)):
            raise ValueError("fallback.contacts: contact ids must be unique")
        phones = [c.phone.get_secret_value() for c in self.contacts]
        if len(phones) != len(set(phones)):
            raise ValueError("fallback.contacts: a phone number is listed twice")
        if len(",".join(ids)) > 200:  # they travel in one alarm detail text (MAX_TEXT)
            raise ValueError("fallback.contacts: the contact ids are too long together")
        if self.retry_s < self.check_s:
            raise ValueError("fallback.retry_s must be >= fallback.check_s")
        return self


class EdgeSettings(FileSettings):
    """Everything `mz edge run` needs; see docs/edge.md for the reference table."""

    model_config = SettingsConfigDict(
        env_prefix="MZ_EDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    dwelling: str
    broker_url: str = "mqtts://localhost:8883"
    username: str | None = None  # defaults to the dwelling id (the broker's ACL expects it)
    password: SecretStr
    # A file holding the password, instead of `password` (mode 0600; `mz provision` writes
    # one into the dwelling's bundle). Read once, at start.
    password_file: Path | None = None
    ca_file: Path | None = None
    # A client certificate (PEM) and its key, for a broker that asks for one
    # (`mz provision dwelling --cert`); a second factor beside the password.
    cert_file: Path | None = None
    key_file: Path | None = None
    client_id: str | None = None  # defaults to the dwelling id: the broker binds it to the account
    mqtt_version: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: Annotated[int, Field(ge=1, le=3600)] = 30
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    ack_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    inflight: Annotated[int, Field(ge=1, le=1000)] = 32
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    # The reconnect backoff's cap (each delay jittered to 50..100 %, reset once a connection
    # has carried the online status): a dwelling is back within a few seconds of its
    # network's return, well inside the hub's offline timeout (3 heartbeats), so a restored
    # network raises no second offline alarm. 5 s of jittered retries is no load on a broker.
    reconnect_max_s: Annotated[float, Field(gt=0)] = 5.0
    heartbeat_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    batch_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    silence_s: Annotated[float, Field(gt=0)] = 300.0
    driver_backoff_min_s: Annotated[float, Field(gt=0)] = 1.0
    driver_backoff_max_s: Annotated[float, Field(gt=0)] = 120.0
    shutdown_flush_s: Annotated[float, Field(ge=0)] = 5.0
    # End-to-end receipts (docs/edge.md "Receipts"): an alarm stays in the spool after the
    # broker's PUBACK until the hub's receipt names it, and is sent again this long after
    # its first PUBACK without one, the wait doubling per resend up to
    # receipt_max_interval_s. 0: no receipts (alarms are deleted at PUBACK, as before).
    receipt_timeout_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    receipt_max_interval_s: Annotated[float, Field(gt=0, le=86400)] = 120.0
    # Paced replay: readings batches leave the spool at most this many a second (a token
    # bucket holding replay_burst), so hours of backlog stay inside the hub's per-dwelling
    # budget (~30 messages/s); alarms and events are not paced. 0: unpaced.
    replay_per_s: Annotated[float, Field(ge=0)] = 20.0
    replay_burst: Annotated[int, Field(ge=1, le=1000)] = 10
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    fall: FallSettings = Field(default_factory=FallSettings)
    # The dwelling's time zone: the routine detector reads times of day in it.
    timezone: str = "Europe/Amsterdam"
    # The routine detector's learned state (JSON); default: routine.json beside the spool.
    routine_state: Path | None = None
    # The personal-trends detector's daily values (JSON); default: trends.json beside the
    # routine state.
    trends_state: Path | None = None
    trends: TrendsSettings = Field(default_factory=TrendsSettings)
    # NEWS2 care plan: SpO2 scale 2 only when prescribed; supplemental oxygen or air.
    news2_scale: Literal[1, 2] = 1
    on_oxygen: bool = False
    devices: list[DeviceConfig] = Field(default_factory=list)
    # The BLE adapter's cap on concurrent GATT connections (wearables hold one for good; a
    # spot-check device only while it indicates). The Pi's on-board adapter holds a few.
    gatt_max_connections: Annotated[int, Field(ge=1, le=10)] = 3
    # The GSM fallback: texts the mantelzorgers when the hub does not confirm an alarm.
    fallback: FallbackSettings | None = None
    # A TOML file holding the fallback's keys instead of `[fallback]` here (mode 0600: it
    # holds the mantelzorgers' phone numbers; `mz provision fallback` writes it).
    fallback_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _password_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("password_file") is None:
            return data
        if data.get("password") is not None:
            raise ValueError("password and password_file are both set: keep one")
        path = Path(data["password_file"])
        try:
            password = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) else "not text"
            raise ValueError(f"password_file {path}: {detail}") from exc
        return {**data, "password": password}

    @model_validator(mode="before")
    @classmethod
    def _fallback_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("fallback_file") is None:
            return data
        if data.get("fallback") is not None:
            raise ValueError("fallback and fallback_file are both set: keep one")
        path = Path(data["fallback_file"])
        try:
            fallback = read_toml(path)
        except SettingsFileError as exc:
            raise ValueError(f"fallback_file {path}: {exc}") from exc
        return {**data, "fallback": fallback}

    @model_validator(mode="after")
    def _check(self) -> Self:
        _pseudo_id(self.dwelling)
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file without cert_file")
        if self.password.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("password is a placeholder: set MZ_EDGE_PASSWORD or password")
        url = urlsplit(self.broker_url)
        if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
            raise ValueError(f"broker_url must be mqtt[s]://host[:port], not {self.broker_url!r}")
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError("device ids must be unique")
        addrs = [d.address for d in self.devices if d.address]
        if len(addrs) != len(set(addrs)):
            raise ValueError("device addresses must be unique")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s > reconnect_max_s")
        if self.receipt_max_interval_s < self.receipt_timeout_s:
            raise ValueError("receipt_max_interval_s < receipt_timeout_s")
        wearables = sum(1 for d in self.devices if d.kind == "wearable")
        spot = any(d.kind == "gatt" for d in self.devices)
        if wearables + (1 if spot else 0) > self.gatt_max_connections:
            raise ValueError(
                f"{wearables} wearable(s) hold {wearables} of gatt_max_connections ="
                f" {self.gatt_max_connections} for good"
                + (", leaving none for the gatt devices" if spot else "")
            )
        if self.fallback is not None and "gsm-modem" in ids:
            raise ValueError("device id gsm-modem is the GSM fallback's modem in the status")
        if self.fallback is not None and self.receipt_timeout_s == 0:
            # Without receipts nothing tells the edge that the hub has an alarm.
            raise ValueError("fallback needs the hub's receipts: receipt_timeout_s > 0")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.broker_url).hostname or "localhost"

    @property
    def port(self) -> int:
        url = urlsplit(self.broker_url)
        return url.port or (8883 if url.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return (
            urlsplit(self.broker_url).scheme == "mqtts"
            or self.ca_file is not None
            or self.cert_file is not None
        )

    @property
    def mqtt_username(self) -> str:
        return self.username or self.dwelling

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or self.dwelling

    @property
    def routine_state_path(self) -> Path:
        return self.routine_state or self.spool.path.parent / "routine.json"

    @property
    def trends_state_path(self) -> Path:
        return self.trends_state or self.routine_state_path.parent / "trends.json"

    @property
    def vitals_state_path(self) -> Path:
        """The values NEWS2 is scored on (edge.vitals_adapter), beside the trends."""
        return self.trends_state_path.parent / "vitals.json"

    def silence_for(self, device: DeviceConfig) -> float:
        """How long `device` may be quiet before it is silent: its own `silence_s`, else
        three missed reports of its `supervision.interval_s`, else (a `gatt` device at
        least `GATT_SILENCE_S`) the agent's `silence_s` when the configuration sets one,
        else the default of its kind (`SILENCE_BY_KIND`)."""
        if device.silence_s is not None:
            return device.silence_s
        interval = device.supervision.interval_s
        if interval is not None:
            return 3 * interval
        if device.kind == "gatt":
            return max(self.silence_s, GATT_SILENCE_S)
        if "silence_s" in self.model_fields_set:
            return self.silence_s
        return default_silence(device, self.silence_s)


def load_settings(path: Path | None, **overrides: Any) -> EdgeSettings:
    """Read `path` (TOML), apply `MZ_EDGE_...` environment, validate; ConfigError if bad."""
    values: dict[str, Any] = {}
    source = str(path) if path is not None else "environment"
    if path is not None:
        try:
            values = read_toml(path)
        except SettingsFileError as exc:
            raise ConfigError(source, str(exc)) from exc
    values.update(overrides)
    try:
        return EdgeSettings(**values)
    except ValidationError as exc:
        raise ConfigError(source, first_error(exc)) from exc
