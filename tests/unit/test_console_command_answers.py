"""The console's line for a dwelling's answer to a status report (hub.console.commands):
what the edge refused at the boundary is shown when there was any, in the operator's
language."""

from __future__ import annotations

from typing import Any

import pytest

from hub.commands import SentCommand
from hub.console.commands import _result
from sensors import commands as wire

T0 = 1_800_000_000.0


def answered(detail: dict[str, Any]) -> SentCommand:
    ack = wire.CommandAck("c1", wire.STATUS_REPORT, "ok", "", T0 + 1, detail)
    return SentCommand("c1", "dw-001", wire.STATUS_REPORT, "", T0, "jan", "console", ack, "ok")


REPORT = {"sensors_ok": 5, "sensors_silent": 1, "sensors_failed": 0, "spool_depth": 3}


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("nl", "2 onmogelijke meetwaarden geweigerd"), ("en", "2 impossible values refused")],
)
def test_refused_values_are_shown_when_there_were_any(lang: str, expected: str) -> None:
    line = _result(answered({**REPORT, "agent_version": "1.2", "implausible": 2}), None, lang, T0)  # type: ignore[arg-type]
    assert line.startswith("5 sens") and line.endswith(expected)
    quiet = _result(answered({**REPORT, "agent_version": "1.2", "implausible": 0}), None, lang, T0)  # type: ignore[arg-type]
    assert quiet.endswith("1.2")  # none refused: nothing said about it
    older = _result(answered({**REPORT, "agent_version": "1.1"}), None, lang, T0)  # type: ignore[arg-type]
    assert older.endswith("1.1")  # an agent from before: nothing about it, no error
