"""The edge agent's settings: one object, from a TOML file plus `MZ_EDGE_...` environment.

Built once in the CLI and passed down; nothing reads the environment elsewhere. Nested
values are overridden with a double underscore, e.g. `MZ_EDGE_SPOOL__MAX_MESSAGES=5000`,
`MZ_EDGE_PASSWORD=...` (the usual way to keep the secret out of the file).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from edge.errors import ConfigError
from sensors.contract import is_pseudo_id

_MAC_RE: Final = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
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


class DeviceConfig(BaseModel):
    """One device in the dwelling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Literal["pendant", "bthome", "wearable"]
    transport: Literal["ble", "serial"] = "ble"
    address: str | None = None  # BLE MAC, for transport "ble"
    port: str | None = None  # serial device or pyserial URL, for transport "serial"
    baudrate: Annotated[int, Field(gt=0)] = 115200
    silence_s: Annotated[float, Field(gt=0)] | None = None  # overrides the agent default

    @model_validator(mode="after")
    def _check(self) -> Self:
        _pseudo_id(self.id)
        if self.transport == "ble":
            if self.address is None or not _MAC_RE.match(self.address):
                raise ValueError(f"device {self.id}: transport 'ble' needs address = 'AA:BB:..'")
            object.__setattr__(self, "address", self.address.upper())
        elif not self.port:
            raise ValueError(f"device {self.id}: transport 'serial' needs port")
        if self.kind in ("pendant", "bthome") and self.transport != "ble":
            raise ValueError(f"device {self.id}: a {self.kind} is a BTHome BLE device")
        return self


class SpoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Path("/var/lib/mz-edge/spool.sqlite")
    # ~1 batch/s: 200,000 messages is more than two days offline.
    max_messages: Annotated[int, Field(ge=10)] = 200_000
    max_bytes: Annotated[int, Field(ge=10_000)] = 256 * 1024 * 1024


class EdgeSettings(BaseSettings):
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
    ca_file: Path | None = None
    client_id: str | None = None  # defaults to the dwelling id
    mqtt_version: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: Annotated[int, Field(ge=1, le=3600)] = 30
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    ack_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    inflight: Annotated[int, Field(ge=1, le=1000)] = 32
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 60.0
    heartbeat_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    batch_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    silence_s: Annotated[float, Field(gt=0)] = 300.0
    driver_backoff_min_s: Annotated[float, Field(gt=0)] = 1.0
    driver_backoff_max_s: Annotated[float, Field(gt=0)] = 120.0
    shutdown_flush_s: Annotated[float, Field(ge=0)] = 5.0
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    devices: list[DeviceConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _pseudo_id(self.dwelling)
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
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s > reconnect_max_s")
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
        return urlsplit(self.broker_url).scheme == "mqtts" or self.ca_file is not None

    @property
    def mqtt_username(self) -> str:
        return self.username or self.dwelling

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"{self.dwelling}-edge"

    def silence_for(self, device: DeviceConfig) -> float:
        return device.silence_s if device.silence_s is not None else self.silence_s

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (init kwargs carry the parsed TOML).
        return (env_settings, init_settings)


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "config"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{more}"


def load_settings(path: Path | None, **overrides: Any) -> EdgeSettings:
    """Read `path` (TOML), apply `MZ_EDGE_...` environment, validate; ConfigError if bad."""
    values: dict[str, Any] = {}
    source = str(path) if path is not None else "environment"
    if path is not None:
        try:
            with path.open("rb") as fh:
                values = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(source, "file not found") from exc
        except OSError as exc:
            raise ConfigError(source, f"cannot read: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(source, f"not valid TOML: {exc}") from exc
    values.update(overrides)
    try:
        return EdgeSettings(**values)
    except ValidationError as exc:
        raise ConfigError(source, _one_line(exc)) from exc
