"""The hub's settings: one TOML file, overridden by `MZ_HUB_...` environment variables.

Nested keys use a double underscore in the environment: `MZ_HUB_BROKER__PASSWORD`
overrides `[broker] password`. Built once in the CLI (or by the demo) and passed down.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from hub.budget import BudgetPolicy, Rate
from hub.errors import ConfigError
from hub.storage.influx_url import InfluxTarget, parse_influx_url
from sensors.contract import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_BATCH, is_pseudo_id
from sensors.settings import FileSettings, SettingsFileError, first_error, read_toml

# Values that mean "nobody configured this yet"; the hub refuses to start with them.
# Contained anywhere (the example config's "change-me"), or the whole value.
_PLACEHOLDER_PARTS = ("change-me", "changeme", "change_me", "placeholder")
_PLACEHOLDER_VALUES = ("secret", "password", "example", "xxx", "todo", "test")
MIN_SECRET_KEY_LEN = 16


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerSettings(_Section):
    url: str = "mqtt://127.0.0.1:1883"  # mqtt:// (plain) or mqtts:// (TLS)
    username: str = "hub.1"  # hub accounts are hub.<name> (`mz broker add-hub`)
    password: SecretStr | None = None
    # Stable: the broker keeps the persistent sessions under it (and `<id>-control`,
    # `<id>-readings`). It contains a `.`, so no dwelling's (bound) client id is ever one
    # of the hub's.
    client_id: str = "hub.1"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    # `$share` for several hub workers, only on a broker that persists shared
    # subscriptions across a restart (EMQX, HiveMQ, VerneMQ): Mosquitto 2.0 does not.
    shared_subscriptions: bool = False
    share_group: str = "mz-hub"
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)  # MQTT 5 only
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    ca_file: Path | None = None  # CA that signed the broker's certificate (mqtts://)
    cert_file: Path | None = None  # client certificate, if the broker asks for one
    key_file: Path | None = None
    tls_insecure: bool = False  # skip hostname check: tests with self-signed certs only
    # A few seconds at most: after a broker restart the hub must be back before the
    # edges' backlog and wills need it.
    reconnect_max_s: float = Field(default=2.0, gt=0, le=30)
    # Where the readings connection is read: "thread", paho's thread in the hub process,
    # or "process", a child process of its own (hub.readings_receiver: reading and
    # decoding MQTT on one core, storing on another); "auto": "process" on a machine with
    # two cores or more (docs/hub.md, "Ingest in batches").
    readings_receiver: Literal["auto", "thread", "process"] = "auto"

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if is_pseudo_id(value) or not 1 <= len(value) <= 64:
            raise ValueError(
                "must not look like a dwelling id (give it a '.', e.g. hub.1): a dwelling's "
                "account, bound to that client id, could take over the hub's session"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        return value

    @property
    def receiver(self) -> Literal["thread", "process"]:
        """`readings_receiver`, "auto" decided for this machine."""
        if self.readings_receiver != "auto":
            return self.readings_receiver
        return "process" if _usable_cpus() >= 2 else "thread"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class DataSettings(_Section):
    dir: Path = Path("/var/lib/mz-hub")  # registry, alarms, dedup, time series (SQLite)
    # The time series: FULL survives power loss too. The operational store (alarms, outbox)
    # always runs FULL on SQLite.
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    dedup_days: float = Field(default=7.0, gt=0)  # keep seen message ids this long


class StorageSection(_Section):
    # The operational store (registry, alarms, outbox, audit trail, dedup, presence,
    # throttling, detector events): `postgresql://user:pw@host/db`, or unset for the
    # embedded SQLite file data.dir/hub.sqlite. A URL with a password belongs in the
    # environment (MZ_HUB_STORAGE__SQL), not in hub.toml.
    sql: SecretStr | None = None


OPS_DB: Final = "hub.sqlite"


class TimeseriesSection(_Section):
    """Where the readings go (docs/hub.md, "Time-series backends"). No `url`: the embedded
    SQLite file data.dir/timeseries.sqlite."""

    # influxdb://TOKEN@host:8086?org=mz&bucket=mz (v2 API: InfluxDB 2.x/3.x/Cloud),
    # influxdb1://[USER:PASSWORD@]host:8086?db=mz (InfluxDB 1.x); influxdbs:// and
    # influxdb1s:// for HTTPS. With a token or password it belongs in the environment
    # (MZ_HUB_TIMESERIES__URL), as does `token` (MZ_HUB_TIMESERIES__TOKEN).
    url: SecretStr | None = None
    token: SecretStr | None = None
    # The disk buffer (data.dir/influx-buffer.sqlite) while InfluxDB is unreachable; when
    # full, the oldest readings are dropped and counted.
    buffer_max_readings: int = Field(default=2_000_000, ge=1)
    raw_retention_days: float = Field(default=30.0, ge=1)
    aggregate_retention_days: float = Field(default=730.0, ge=1)  # the 1-minute aggregates
    # InfluxDB 1.x: create the database, retention policies and continuous query (needs an
    # admin user). On 2.x the bucket's retention and a task do it (docs/hub.md).
    manage_retention: bool = True
    batch_readings: int = Field(default=5000, ge=1, le=100_000)  # per HTTP write
    retry_attempts: int = Field(default=3, ge=1, le=10)  # before a batch is buffered
    backoff_max_s: float = Field(default=30.0, gt=0, le=600)  # between backfill tries
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _check_url(self) -> TimeseriesSection:
        if self.url is not None:
            try:
                self.target()
            except ValueError as exc:
                raise ValueError(f"url {exc}") from None
        return self

    def target(self) -> InfluxTarget | None:
        if self.url is None:
            return None
        token = None if self.token is None else self.token.get_secret_value()
        return parse_influx_url(self.url.get_secret_value(), token=token)


class ConsoleSection(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = None
    ack_link_ttl_s: float = Field(default=24 * 3600.0, gt=0)
    demo: bool = False
    # Sessions: absolute lifetime (one shift) and how long one may go unused.
    session_max_s: float = Field(default=12 * 3600.0, ge=60)
    session_idle_s: float = Field(default=2 * 3600.0, ge=60)
    # Reverse proxies whose X-Forwarded-For / -Proto uvicorn believes (IPs or networks).
    # Empty: none, the client address is the TCP peer's (uvicorn's own default would
    # trust 127.0.0.1, so anything local could pick the address the throttle counts).
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (no '*', no host names)"
                ) from None
        return value


class PresenceSettings(_Section):
    # Offline after heartbeat_s x factor without any message (heartbeat_s from the status).
    heartbeat_factor: float = Field(default=3.0, ge=1.0)
    check_interval_s: float = Field(default=1.0, gt=0)
    # An offline status (last will, goodbye) counts only if nothing more is heard this
    # long: a broker restart fires every edge's will, and the edges are back within it.
    offline_grace_s: float = Field(default=90.0, ge=0)


class MailSettings(_Section):
    # apprise mailto URL without `to` (added per contact); may hold an SMTP password.
    url: SecretStr | None = None
    # A dwelling's further alarms within this window after a mail go out as one folded
    # mail when it has passed (0: every alarm its own mail). See docs/alerts.md.
    fold_window_s: float = Field(default=120.0, ge=0)
    # A contact who was told of an alarm is told when it is over ("Voorbij: ..."), if it
    # ended at most this long ago. 0: never. See docs/alerts.md, "All-clear".
    all_clear_within_s: float = Field(default=3600.0, ge=0, le=7 * 86400)


class RoutingSection(_Section):
    """Escalation defaults (alerts.routing); a dwelling's own policy is set with
    `mz admin routing set`."""

    # How long a step waits for "ik ga erheen" before the next contact (or the alarm
    # centre) is asked, for dwellings without a policy of their own.
    step_wait_s: float = Field(default=120.0, gt=0, le=3600)


class FamilySection(_Section):
    """The mantelzorger's page (hub.family)."""

    # The daily "alles goed" message (for contacts who switch it on), local time HH:MM.
    summary_time: str = "08:00"

    @field_validator("summary_time")
    @classmethod
    def _time(cls, value: str) -> str:
        from hub.family.schedule import parse_time

        parse_time(value)  # ValueError: not HH:MM
        return value.strip()


class ChannelsSection(_Section):
    # Signs the JSON webhooks (Standard Webhooks, "whsec_<base64>"); None: no webhooks.
    webhook_secret: SecretStr | None = None


class AlarmCentreSection(_Section):
    """The SIA DC-09 link to the alarmmeldpunt (docs/dc09.md). No primary: no link."""

    primary: str | None = None  # "host:port" of the receiver
    backup: str | None = None  # tried when the primary does not answer
    receiver: str = Field(default="0", pattern=r"^[0-9A-Fa-f]{1,6}$")  # DC-09 Rrcvr
    prefix: str = Field(default="0", pattern=r"^[0-9A-Fa-f]{1,6}$")  # DC-09 Lpref
    # AES keys per account (16, 24 or 32 characters), from the environment:
    # MZ_HUB_ALARM_CENTRE__KEYS='{"1234": "..."}'. An account without a key is sent plain.
    keys: dict[str, SecretStr] = Field(default_factory=dict)
    ack_timeout_s: float = Field(default=10.0, gt=0, le=120)
    link_test_interval_s: float = Field(default=60.0, ge=5, le=86400)
    link_test_account: str = Field(default="0000", pattern=r"^[0-9A-Fa-f]{3,16}$")

    @field_validator("primary", "backup")
    @classmethod
    def _receiver(cls, value: str | None) -> str | None:
        if value is not None:
            parse_host_port(value)
        return value

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for account, key in value.items():
            text = key.get_secret_value()
            if len(text) not in (16, 24, 32):
                raise ValueError(f"the key of account {account} must have 16, 24 or 32 characters")
            # Receivers (and pysiaalarm) take keys as hexadecimal text; AES gets its bytes.
            if any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ValueError(f"the key of account {account} must be hexadecimal text")
        return value


def parse_host_port(value: str) -> tuple[str, int]:
    """ "host:port" -> (host, port); ValueError with a clear message otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:5000)")
    return host.strip("[]"), int(port)


class BudgetSection(_Section):
    """Per-dwelling budgets (hub.budget): a sustained rate per second and a burst each.

    Defaults a healthy edge never reaches (docs/hub.md, "Per-dwelling budgets").
    """

    bulk_messages_per_s: float = Field(default=30.0, gt=0)
    bulk_messages_burst: float = Field(default=900.0, ge=1)
    readings_per_s: float = Field(default=3000.0, gt=0)
    # At least one full batch, or a maximal batch could never be admitted.
    readings_burst: float = Field(default=60_000.0, ge=MAX_READINGS_PER_BATCH)
    bytes_per_s: float = Field(default=1_000_000.0, gt=0)
    bytes_burst: float = Field(default=16_000_000.0, ge=MAX_PAYLOAD_BYTES)
    control_messages_per_s: float = Field(default=10.0, gt=0)  # events and status
    control_messages_burst: float = Field(default=1000.0, ge=1)
    alarm_messages_per_s: float = Field(default=2.0, gt=0)
    alarm_messages_burst: float = Field(default=120.0, ge=1)
    alarm_raises_per_h: float = Field(default=60.0, gt=0)
    alarm_raises_burst: float = Field(default=30.0, ge=1)
    max_open_alarms: int = Field(default=50, ge=1)
    max_dwellings: int = Field(default=10_000, ge=1)

    def policy(self) -> BudgetPolicy:
        return BudgetPolicy(
            bulk_messages=Rate(self.bulk_messages_per_s, self.bulk_messages_burst),
            bulk_readings=Rate(self.readings_per_s, self.readings_burst),
            bulk_bytes=Rate(self.bytes_per_s, self.bytes_burst),
            control_messages=Rate(self.control_messages_per_s, self.control_messages_burst),
            alarm_messages=Rate(self.alarm_messages_per_s, self.alarm_messages_burst),
            alarm_raises=Rate(self.alarm_raises_per_h / 3600.0, self.alarm_raises_burst),
            max_open_alarms=self.max_open_alarms,
            max_dwellings=self.max_dwellings,
        )


class FhirSection(_Section):
    """The link to care institutions (hub.fhir): pushing consented data to their FHIR
    endpoints (the consents, with their endpoints, are in the registry)."""

    push: bool = True  # run the push subscriptions (only consents with an endpoint push)
    interval_s: float = Field(default=60.0, gt=0, le=3600)
    settle_s: float = Field(default=120.0, ge=0, le=86400)  # late spool deliveries
    window_max_s: float = Field(default=3600.0, gt=0, le=86400)  # at most per Bundle
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_s: float = Field(default=10.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=1800.0, gt=0, le=86400)


class HubSettings(FileSettings):
    model_config = SettingsConfigDict(
        env_prefix="MZ_HUB_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    broker: BrokerSettings = BrokerSettings()
    data: DataSettings = DataSettings()
    storage: StorageSection = StorageSection()
    timeseries: TimeseriesSection = TimeseriesSection()
    console: ConsoleSection = ConsoleSection()
    presence: PresenceSettings = PresenceSettings()
    mail: MailSettings = MailSettings()
    routing: RoutingSection = RoutingSection()
    channels: ChannelsSection = ChannelsSection()
    alarm_centre: AlarmCentreSection = AlarmCentreSection()
    budget: BudgetSection = BudgetSection()
    family: FamilySection = FamilySection()
    fhir: FhirSection = FhirSection()
    language: Literal["nl", "en"] = "nl"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    def require_secrets(self) -> None:
        """Raise ConfigError (one line) unless every secret is set and not a placeholder."""
        # Also needed with the console disabled: it signs the acknowledgement links in mails.
        key = self.console.secret_key
        if key is None:
            raise ConfigError("console.secret_key is not set (MZ_HUB_CONSOLE__SECRET_KEY)")
        _refuse_placeholder("console.secret_key", key.get_secret_value())
        if len(key.get_secret_value()) < MIN_SECRET_KEY_LEN:
            raise ConfigError(f"console.secret_key is shorter than {MIN_SECRET_KEY_LEN} characters")
        if self.broker.password is None:
            raise ConfigError("broker.password is not set (MZ_HUB_BROKER__PASSWORD)")
        _refuse_placeholder("broker.password", self.broker.password.get_secret_value())
        if self.mail.url is not None:
            _refuse_placeholder("mail.url", self.mail.url.get_secret_value())
        if self.channels.webhook_secret is not None:
            _refuse_placeholder(
                "channels.webhook_secret", self.channels.webhook_secret.get_secret_value()
            )
        for account, key in self.alarm_centre.keys.items():
            _refuse_placeholder(f"alarm_centre.keys.{account}", key.get_secret_value())
        influx = self.timeseries.target()
        if influx is not None and influx.token is not None:
            _refuse_placeholder("the timeseries token", influx.token)
        if influx is not None and influx.password is not None:
            _refuse_placeholder("the timeseries password", influx.password)

    @property
    def sql_url(self) -> str:
        """The operational store's database URL (hub.sql.engine.open_engine takes it)."""
        if self.storage.sql is not None:
            return self.storage.sql.get_secret_value()
        return f"sqlite:///{(self.data.dir / OPS_DB).resolve()}"

    @property
    def console_secret(self) -> str:
        return "" if self.console.secret_key is None else self.console.secret_key.get_secret_value()


def _refuse_placeholder(name: str, value: str) -> None:
    lowered = value.strip().lower()
    if (
        not lowered
        or lowered in _PLACEHOLDER_VALUES
        or any(p in lowered for p in _PLACEHOLDER_PARTS)
    ):
        raise ConfigError(f"{name} is empty or a placeholder; set a real secret")


def load_settings(path: Path | None = None, **overrides: Any) -> HubSettings:
    """Settings from `path` (TOML) plus environment overrides; ConfigError on any problem."""
    data: dict[str, Any] = {}
    source = str(path) if path is not None else "environment"
    if path is not None:
        try:
            data = read_toml(path)
        except SettingsFileError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    data.update(overrides)
    try:
        return HubSettings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_error(exc)}") from exc


def _usable_cpus() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1
