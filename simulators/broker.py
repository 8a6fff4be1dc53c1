"""An embedded MQTT broker (amqtt) for the demo and for developers without Mosquitto.

It enforces the same rules as the production Mosquitto configuration in deploy/mosquitto
(see hub.broker_admin): every client authenticates; a dwelling's client id must be its
username, so nobody takes over another's session; a dwelling may publish only under its own
`mz/v1/{dwelling}/` prefix and subscribe to and read only its own commands; a hub account
(`hub.<name>`) reads every dwelling and writes commands. amqtt speaks MQTT 3.1.1 only and
has no shared subscriptions; the hub is configured for that.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hub.broker_admin import is_hub_account
from simulators.amqtt_patch import patch_subscriptions

log = logging.getLogger(__name__)

HUB_USER = "hub.1"


class CredentialsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Username/password check against a table handed over in the plugin config."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool | None:
        users: dict[str, str] = self.config.users
        expected = users.get(session.username or "")
        given = session.password or ""
        ok = expected is not None and hmac.compare_digest(expected.encode(), given.encode())
        if not ok:
            log.warning("broker: refused login for user %r", session.username)
            return False
        if not is_hub_account(session.username or "") and session.client_id != session.username:
            # The account binds the client id, as Mosquitto's dynamic-security plugin does.
            log.warning(
                "broker: refused %r connecting with client id %r",
                session.username,
                session.client_id,
            )
            return False
        return True


def _allowed(username: str, topic: str, action: Action) -> bool:
    if is_hub_account(username):
        parts = topic.split("/")
        if action == Action.PUBLISH:
            return len(parts) == 5 and parts[:2] == ["mz", "v1"] and parts[3] == "cmd"
        return topic.startswith("mz/v1/")
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "mz" or parts[1] != "v1" or parts[2] != username:
        return False
    channel = parts[3]
    if action == Action.PUBLISH:
        return len(parts) == 4 and channel in {"readings", "events", "alarms", "status"}
    return channel == "cmd" or (channel == "status" and len(parts) == 4)


class DwellingACLPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """The production ACL: `pattern write mz/v1/%u/...`, `pattern read mz/v1/%u/cmd/#`."""

    @dataclass
    class Config:
        enabled: bool = True

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or topic is None or action is None:
            return False
        ok = _allowed(session.username or "", topic, action)
        if not ok:
            log.warning("broker: denied %s on %r for %r", action.value, topic, session.username)
        return ok


@dataclass(slots=True)
class EmbeddedBroker:
    """amqtt bound to 127.0.0.1 (its own default is 0.0.0.0) with our auth and ACL."""

    port: int
    users: dict[str, str]
    _broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                f"{__name__}.CredentialsAuthPlugin": {"users": dict(self.users)},
                f"{__name__}.DwellingACLPlugin": {"enabled": True},
            },
        }

    async def start(self) -> None:
        broker = Broker(self.config())
        patch_subscriptions(broker)  # simulators.amqtt_patch says why
        try:
            await broker.start()
        except BrokerError as exc:  # e.g. the port in use: a clear error, not a traceback
            msg = f"the embedded MQTT broker cannot start on port {self.port}: {exc}"
            raise OSError(msg) from exc
        self._broker = broker
        log.info("embedded MQTT broker on 127.0.0.1:%d", self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
