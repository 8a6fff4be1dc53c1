"""What hub.mqtt_acks, edge.mqtt_reset and simulators.amqtt_patch rely on inside aiomqtt,
paho-mqtt and amqtt. An upgrade that changes any of it fails here, by name, before it can
fail quietly in production (an early PUBACK loses messages)."""

from __future__ import annotations

import inspect

import aiomqtt
import paho.mqtt.client as paho
from amqtt.broker import Broker

from simulators.amqtt_patch import SnapshotIterDict, patch_subscriptions
from simulators.broker import EmbeddedBroker


async def test_aiomqtt_wraps_a_paho_client_in_client_underscore_client() -> None:
    client = aiomqtt.Client("127.0.0.1", 1)
    assert isinstance(client._client, paho.Client), "aiomqtt.Client._client is gone"


def test_paho_keeps_manual_acks_and_the_socket_reset() -> None:
    assert list(inspect.signature(paho.Client.manual_ack_set).parameters) == ["self", "on"]
    assert list(inspect.signature(paho.Client.ack).parameters) == ["self", "mid", "qos"]
    assert list(inspect.signature(paho.Client._reset_sockets).parameters)[:1] == ["self"]


def test_the_paho_reset_closes_the_socket_pair_and_can_run_twice() -> None:
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client._reset_sockets()
    client._reset_sockets()
    assert client._sockpairR is None and client._sockpairW is None


async def test_amqtt_keeps_its_subscription_table_and_the_patch_takes() -> None:
    broker = Broker(EmbeddedBroker(port=0, users={}).config())
    assert isinstance(broker._subscriptions, dict), "amqtt's Broker._subscriptions is gone"
    patch_subscriptions(broker)
    table = broker._subscriptions
    assert isinstance(table, SnapshotIterDict)
    table["a/b"] = []
    for key in table:  # changing it while iterating is what the patch makes safe
        table[key + "/c"] = []
    assert set(table) == {"a/b", "a/b/c"}
