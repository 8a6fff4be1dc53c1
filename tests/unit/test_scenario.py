"""Scenario files: parsing, validation with clear errors, the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors.readings import ButtonPress
from simulators.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).parents[2] / "simulators" / "scenarios"

BASE = """
name = "t"
[[devices]]
id = "pendant-1"
kind = "pendant"
[[devices]]
id = "room-1"
kind = "bthome"
address = "a4:c1:38:00:00:09"
"""


def test_parse_full_scenario() -> None:
    sc = parse_scenario(
        "speed = 10\nduration_s = 100\n"
        + BASE
        + """
[agent]
heartbeat_s = 5
[[events]]
at = 50
action = "network_down"
mode = "reset"
for_s = 20
[[events]]
at = 10
action = "press"
device = "pendant-1"
press = "long_press"
[[events]]
at = 30
action = "battery"
device = "room-1"
level = 12
"""
    )
    assert sc.speed == 10 and sc.duration_s == 100 and sc.agent == {"heartbeat_s": 5}
    assert [e.at for e in sc.timeline] == [10, 30, 50]
    assert sc.timeline[0].press is ButtonPress.LONG_PRESS
    assert sc.timeline[2].mode == "reset" and sc.timeline[2].for_s == 20
    assert sc.devices[1].mac == "A4:C1:38:00:00:09"
    mac = sc.devices[0].mac  # derived from the id: stable, locally administered
    assert mac == parse_scenario(BASE).devices[0].mac and mac.startswith("C2:")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[events]]\nat = 1\naction = "press"\ndevice = "nobody"', "unknown device 'nobody'"),
        ('[[events]]\nat = 1\naction = "network_up"\nlevel = 500', "events.0.level"),
        ('[[events]]\nat = 1\naction = "press"\ndevice = "room-1"', "only a pendant has a button"),
        ('[[events]]\nat = 1\naction = "press"', "needs a device"),
        ('[[events]]\nat = 1\naction = "network_up"\ndevice = "room-1"', "takes no device"),
        ('[[events]]\nat = 1\naction = "battery"\ndevice = "room-1"', "needs level"),
        ('[[events]]\nat = 1\naction = "explode"', "events.0.action"),
        ('[[events]]\nat = -1\naction = "network_up"', "events.0.at"),
        ("[agent]\npassword = 'x'", "may not set"),
        ("[agent]\nheartbeat = 5", "unknown agent setting"),
        ("[extra]\ncolour = 'blue'", "extra"),
        ('[[events]]\nat = 10\naction = "network_up"', "after duration_s"),
        ('[[devices]]\nid = "pendant-1"\nkind = "pendant"', "unique"),
        ('[[devices]]\nid = "Bad Id"\nkind = "pendant"', "pseudonymous"),
    ],
)
def test_invalid_scenarios_say_what_is_wrong(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        parse_scenario("duration_s = 5\n" + BASE + extra, "x.toml")
    assert str(info.value).startswith("x.toml: ")
    assert "\n" not in str(info.value)


def test_not_toml() -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenario("devices = [", "x.toml")


def test_no_devices() -> None:
    with pytest.raises(ScenarioError, match="devices"):
        parse_scenario('name = "empty"')


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "path", sorted(SCENARIOS.rglob("*.toml")), ids=lambda p: str(p.relative_to(SCENARIOS))
)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.devices


def test_shipped_examples_cover_press_and_offline() -> None:
    press = load_scenario(SCENARIOS / "pendant_press.toml")
    assert any(e.action == "press" and e.at < 60 for e in press.events)
    offline = load_scenario(SCENARIOS / "dwelling_offline.toml")
    assert any(e.action == "network_down" for e in offline.events)
