"""The embedded broker's patch of amqtt: the one place that reaches into it.

amqtt 0.12.1 iterates its subscription table (`Broker._subscriptions`, private) across
awaits (`_run_broadcast`, session resume); a subscribe arriving meanwhile raised
"dictionary changed size during iteration" and the message being broadcast was dropped
(seen in the demo). Iterating over a snapshot makes those loops safe. pyproject.toml
bounds amqtt (<0.13) for this; tests/unit/test_mqtt_internals.py fails loudly when an
upgrade changes the attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class SnapshotIterDict(dict[str, Any]):
    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(super().items())


def patch_subscriptions(broker: Any) -> None:
    """Give a not yet started amqtt `Broker` a subscription table safe to iterate."""
    if not isinstance(getattr(broker, "_subscriptions", None), dict):
        raise RuntimeError("amqtt's Broker has no _subscriptions dict: the patch needs a look")
    broker._subscriptions = SnapshotIterDict(broker._subscriptions)
