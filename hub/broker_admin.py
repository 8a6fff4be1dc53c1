"""Broker accounts for Mosquitto's dynamic-security plugin: who may connect, as which
client id, and to which topics.

Why the dynamic-security plugin (and not `acl_file` or `use_username_as_clientid`):
Mosquitto 2.0's `acl_file` never refuses a SUBSCRIBE (it filters what is delivered), so a
dwelling could join the hub's `$share/...` group and silently swallow every message the
broker handed it; and any client could take over any client id, the hub's persistent
session included. The plugin checks every subscription when it is made (SUBACK 0x87
"not authorized"), binds each dwelling account to one client id, and can disable an
account (a stolen Pi) at run time, dropping its connection at once.

The model, one account per party:

* a dwelling: username = its pseudonymous id, client id bound to the same id, one role of
  its own (`mz-dwelling-<id>`, literal topics: Mosquitto 2.0's plugin does not substitute
  `%u`) that may publish only `mz/v1/<id>/{readings,events,alarms,status}` and subscribe
  only `mz/v1/<id>/cmd/+`;
* a hub worker: username `hub.<name>` — the `.` can never appear in a dwelling id, so the
  dwelling tooling cannot create, reset or touch a hub account — with the `mz-hub` role.
  Hub accounts are not bound to one client id: one worker keeps three persistent sessions
  (alarms and readings), and hub accounts live only on the hub's own hosts;
* default access is deny for everything (publish, receive, subscribe).

The pure part builds the plugin's JSON commands; `DynsecAdmin` sends them over MQTT to
`$CONTROL/dynamic-security/v1` as the plugin's admin account (see docs/broker.md), one
connection for any number of control messages (`DynsecAdmin.session`).
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import ssl
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from hub.errors import HubError
from sensors.contract import PREFIX, Channel, is_pseudo_id

CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = f"{CONTROL_TOPIC}/response"
HUB_ROLE: Final = "mz-hub"
DWELLING_ROLE_PREFIX: Final = "mz-dwelling-"
HUB_ACCOUNT_RE: Final = re.compile(r"^hub\.[a-z0-9][a-z0-9-]{0,31}$")
SHARE_GROUP: Final = "mz-hub"

JsonObj = dict[str, Any]
T = TypeVar("T")


class BrokerAdminError(HubError):
    """A broker account could not be read or changed."""


def is_hub_account(username: str) -> bool:
    return bool(HUB_ACCOUNT_RE.match(username))


def dwelling_role(dwelling: str) -> str:
    return f"{DWELLING_ROLE_PREFIX}{dwelling}"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _acl(acltype: str, topic: str, allow: bool = True) -> JsonObj:
    return {"acltype": acltype, "topic": topic, "allow": allow}


def setup_commands() -> list[JsonObj]:
    """Default deny, and the hub role. Idempotent apart from "already exists" answers."""
    data = [f"{PREFIX}/+/{c.value}" for c in (Channel.READINGS, Channel.EVENTS, Channel.ALARMS)]
    status = f"{PREFIX}/+/{Channel.STATUS.value}"
    subs = [*data, status, *(f"$share/{SHARE_GROUP}/{t}" for t in data)]
    acls = [_acl("subscribePattern", t) for t in subs]
    acls += [_acl("publishClientReceive", t) for t in (*data, status)]
    # Receipts and commands to dwellings.
    acls.append(_acl("publishClientSend", f"{PREFIX}/+/{Channel.CMD.value}/+"))
    acls.append(_acl("unsubscribePattern", f"{PREFIX}/#"))
    acls.append(_acl("unsubscribePattern", f"$share/{SHARE_GROUP}/{PREFIX}/#"))
    return [
        *(
            {"command": "setDefaultACLAccess", "acls": [{"acltype": t, "allow": False}]}
            for t in ("publishClientSend", "publishClientReceive", "subscribe")
        ),
        {"command": "createRole", "rolename": HUB_ROLE, "acls": acls},
    ]


def dwelling_role_acls(dwelling: str) -> list[JsonObj]:
    base = f"{PREFIX}/{dwelling}"
    acls = [
        _acl("publishClientSend", f"{base}/{c.value}")
        for c in (Channel.READINGS, Channel.EVENTS, Channel.ALARMS, Channel.STATUS)
    ]
    acls.append(_acl("subscribeLiteral", f"{base}/{Channel.CMD.value}/+"))
    acls.append(_acl("unsubscribeLiteral", f"{base}/{Channel.CMD.value}/+"))
    acls.append(_acl("publishClientReceive", f"{base}/{Channel.CMD.value}/#"))
    return acls


def create_dwelling_commands(dwelling: str, password: str) -> list[JsonObj]:
    """The dwelling's own role and its account, bound to its id as client id."""
    role = dwelling_role(dwelling)
    return [
        {"command": "createRole", "rolename": role, "acls": dwelling_role_acls(dwelling)},
        {
            "command": "createClient",
            "username": dwelling,
            "password": password,
            "clientid": dwelling,
            "roles": [{"rolename": role}],
        },
    ]


def reissue_dwelling_commands(dwelling: str, password: str) -> list[JsonObj]:
    """A new password for an existing dwelling account, bound to its id again and enabled
    (a revoked dwelling provisioned anew)."""
    return [
        {"command": "setClientPassword", "username": dwelling, "password": password},
        {"command": "setClientId", "username": dwelling, "clientid": dwelling},
        {"command": "enableClient", "username": dwelling},
    ]


# Commands per control message in a long run. Mosquitto 2.0's plugin rewrites its whole
# state file after every command (~25 ms with 1,000 dwellings, growing with their number),
# and the broker serves nobody else meanwhile: small messages let other clients' packets,
# alarms among them, through between them (benchmarks/bench_provision.py measures the
# pauses). A round trip costs ~1 ms, next to the saves' tens.
BATCH_COMMANDS: Final = 4


def batches(items: Sequence[T], size: int = BATCH_COMMANDS) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def check_dwelling_id(dwelling: str) -> None:
    if not is_pseudo_id(dwelling):
        raise BrokerAdminError(
            f"not a pseudonymous dwelling id: {dwelling!r} (lower-case letters, digits, "
            "'-' and '_', 2-64 characters; hub accounts are made with add-hub)"
        )


def check_hub_account(username: str) -> None:
    if not is_hub_account(username):
        raise BrokerAdminError(f"a hub account is named hub.<name> (e.g. hub.1), not {username!r}")


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    clientid: str | None
    roles: tuple[str, ...]
    disabled: bool

    @property
    def kind(self) -> str:
        if HUB_ROLE in self.roles:
            return "hub"
        if any(r.startswith(DWELLING_ROLE_PREFIX) for r in self.roles):
            return "dwelling"
        return "other"


def _account(obj: JsonObj) -> Account:
    return Account(
        username=str(obj.get("username", "")),
        clientid=obj.get("clientid") or None,
        roles=tuple(str(r.get("rolename", "")) for r in obj.get("roles", [])),
        disabled=bool(obj.get("disabled", False)),
    )


class DynsecAdmin:
    """Talks to the plugin as its admin account: one connection, batched commands."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        tls: bool = False,
        tls_ca: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._tls = tls or tls_ca is not None
        self._tls_ca = tls_ca
        self._timeout = timeout_s

    def run(self, commands: list[JsonObj], *, allow: tuple[str, ...] = ()) -> list[JsonObj]:
        """Send `commands`; the plugin's responses in order. An error answer raises
        BrokerAdminError unless it contains one of `allow` (e.g. "already exists")."""
        if not commands:
            return []
        with self.session() as session:
            return session.run(commands, allow=allow)

    @contextmanager
    def session(self) -> Iterator[DynsecSession]:
        """One connection for many control messages (bulk provisioning)."""
        session = DynsecSession(self)
        try:
            yield session
        finally:
            session.close()

    def account(self, username: str) -> Account | None:
        [resp] = self.run([{"command": "getClient", "username": username}], allow=("not found",))
        if resp.get("error"):
            return None
        return _account(resp.get("data", {}).get("client", {}))

    def accounts(self) -> list[Account]:
        with self.session() as session:
            return session.accounts()

    # -- the operations `mz broker` offers ---------------------------------------------

    def setup(self) -> None:
        self.run(setup_commands(), allow=("already exists",))

    def add_dwelling(self, dwelling: str, *, reset: bool = False) -> str:
        """Create the dwelling's account (or, with `reset`, give an existing dwelling
        account a new password); returns the new password. Never touches any other kind
        of account."""
        check_dwelling_id(dwelling)
        existing = self.account(dwelling)
        password = new_password()
        if existing is not None:
            if existing.kind != "dwelling" or existing.roles != (dwelling_role(dwelling),):
                raise BrokerAdminError(f"{dwelling!r} exists and is not a dwelling account")
            if not reset:
                raise BrokerAdminError(
                    f"dwelling {dwelling} already has broker credentials; --reset-password "
                    "gives it a new password"
                )
            self.run(
                [
                    {"command": "setClientPassword", "username": dwelling, "password": password},
                    {"command": "setClientId", "username": dwelling, "clientid": dwelling},
                ]
            )
            return password
        self.run(create_dwelling_commands(dwelling, password))
        return password

    def add_hub(self, username: str, *, reset: bool = False) -> str:
        check_hub_account(username)
        existing = self.account(username)
        password = new_password()
        if existing is not None:
            if existing.kind != "hub":
                raise BrokerAdminError(f"{username!r} exists and is not a hub account")
            if not reset:
                raise BrokerAdminError(f"{username} exists; --reset-password gives a new one")
            self.run([{"command": "setClientPassword", "username": username, "password": password}])
            return password
        self.run(
            [
                {
                    "command": "createClient",
                    "username": username,
                    "password": password,
                    "roles": [{"rolename": HUB_ROLE}],
                }
            ]
        )
        return password

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Disabling drops the account's connection at once (a stolen Pi)."""
        self._require(username)
        command = "enableClient" if enabled else "disableClient"
        self.run([{"command": command, "username": username}])

    def remove(self, username: str) -> None:
        found = self._require(username)
        cmds: list[JsonObj] = [{"command": "deleteClient", "username": username}]
        if found.kind == "dwelling":
            cmds.append({"command": "deleteRole", "rolename": dwelling_role(username)})
        self.run(cmds)

    def _require(self, username: str) -> Account:
        found = self.account(username)
        if found is None:
            raise BrokerAdminError(f"no broker account {username!r}")
        return found


class DynsecSession:
    """The admin account's connection to the plugin: each `run` is one control message,
    answered (the plugin replies to the sender only, in order) before the next is sent."""

    def __init__(self, admin: DynsecAdmin) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self._timeout = admin._timeout
        self._answers: queue.Queue[JsonObj | str] = queue.Queue()
        ready: queue.Queue[str | None] = queue.Queue()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"mz-broker-admin-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        client.username_pw_set(admin._username, admin._password)
        if admin._tls:
            client.tls_set_context(ssl.create_default_context(cafile=admin._tls_ca))

        def on_connect(c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                ready.put(f"broker refused the admin login: {rc}")
                return
            c.subscribe(RESPONSE_TOPIC, qos=0)

        def on_subscribe(_c: Any, _u: Any, _mid: Any, rcs: Any, _p: Any) -> None:
            if any(r.is_failure for r in rcs):
                ready.put("the admin account may not read dynamic-security responses")
            else:
                ready.put(None)

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            try:
                answer = json.loads(msg.payload)
                if not isinstance(answer, dict):
                    raise ValueError
            except ValueError:
                self._answers.put("unreadable answer from the dynamic-security plugin")
                return
            self._answers.put(answer)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            client.connect(admin._host, admin._port, keepalive=30)
        except OSError as exc:
            raise BrokerAdminError(
                f"cannot reach the broker at {admin._host}:{admin._port}: {exc}"
            ) from exc
        client.loop_start()
        self._client = client
        try:
            failure = ready.get(timeout=self._timeout)
        except queue.Empty:
            failure = (
                f"no connection to the dynamic-security plugin within {self._timeout:.0f} s "
                "(is the plugin loaded, and is this its admin account?)"
            )
        if failure is not None:
            self.close()
            raise BrokerAdminError(failure)

    def run(self, commands: list[JsonObj], *, allow: tuple[str, ...] = ()) -> list[JsonObj]:
        """As DynsecAdmin.run, on this connection."""
        if not commands:
            return []
        responses = self.exchange(commands)
        for cmd, resp in zip(commands, responses, strict=False):
            error = resp.get("error")
            if error and not any(a in str(error) for a in allow):
                raise BrokerAdminError(f"{cmd['command']}: {error}")
        return responses

    def accounts(self) -> list[Account]:
        [resp] = self.run([{"command": "listClients", "verbose": True, "count": -1}])
        return [_account(c) for c in resp.get("data", {}).get("clients", [])]

    def exchange(self, commands: list[JsonObj]) -> list[JsonObj]:
        """Send one control message; the plugin's responses, errors included (one per
        command)."""
        # QoS 0 both ways: a plain request and its answer. With QoS 1 the broker's PUBACK
        # and its answer leave as two small segments, and Nagle's algorithm (Mosquitto
        # leaves it on: `set_tcp_nodelay false`) holds the answer for our delayed ACK,
        # ~40 ms a message. Nothing is lost on a live TCP connection, and a lost
        # connection times out below.
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=0)
        try:
            answer = self._answers.get(timeout=self._timeout)
        except queue.Empty:
            raise BrokerAdminError(
                f"no answer from the dynamic-security plugin within {self._timeout:.0f} s "
                "(is the plugin loaded, and is this its admin account?)"
            ) from None
        if isinstance(answer, str):
            raise BrokerAdminError(answer)
        responses = answer.get("responses", [])
        if not isinstance(responses, list) or len(responses) != len(commands):
            raise BrokerAdminError(
                f"the dynamic-security plugin answered {len(responses)} of {len(commands)} commands"
            )
        return responses

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
