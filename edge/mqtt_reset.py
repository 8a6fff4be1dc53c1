"""Closing what aiomqtt 2.5 leaves open after a failed connect: the one place that reaches
into paho for it.

When CONNACK times out, aiomqtt leaves paho's socket open (and registered with the loop);
a stale CONNECT reaching the broker later would take over the edge's next session. paho's
private `_reset_sockets()` closes it and paho's wake-up socketpair (no-ops when closed).
pyproject.toml bounds aiomqtt (<3) and paho-mqtt (<2.3) for this;
tests/unit/test_mqtt_internals.py fails loudly when either changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiomqtt


def reset_sockets(client: aiomqtt.Client) -> None:
    client._client._reset_sockets()
