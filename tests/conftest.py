from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Mosquitto, SmtpSink, running_mosquitto, running_smtp


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto per test: tests restart and kill it, so none is shared."""
    d = tmp_path / "mosquitto"
    d.mkdir()
    with running_mosquitto(d) as broker:
        yield broker


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running_smtp() as sink:
        yield sink
