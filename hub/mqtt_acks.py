"""Manual MQTT acknowledgements for aiomqtt 2.x: the one place that reaches into it.

aiomqtt acknowledges a QoS 1 message (PUBACK) as soon as paho has read it; the hub must
acknowledge only after the message is durable. aiomqtt 2.x has no API for that, but the
paho client it wraps does (`manual_ack_set`, `ack`, public in paho-mqtt 2.x): we reach
it through aiomqtt's private `_client`. pyproject.toml bounds aiomqtt (<3) and paho-mqtt
(<2.3) for this; tests/unit/test_mqtt_internals.py fails loudly when either changes what
this relies on, and tests/integration/test_mqtt_internals.py shows the PUBACK held back on
a real broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiomqtt


def manual_acks(client: aiomqtt.Client) -> None:
    """From now on `client` sends no PUBACK until `ack` is called for the message."""
    client._client.manual_ack_set(True)


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Acknowledge `message` (a no-op for QoS 0)."""
    client._client.ack(message.mid, message.qos)
