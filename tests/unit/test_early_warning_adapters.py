"""The early-warning adapters (pure parts): ambient readings -> routine detector -> findings
with a persisted model; vital-sign readings -> NEWS2 -> findings; the gateway line codec;
the scenario keys that drive them."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import load_settings
from edge.detection import Finding
from edge.detectors.routine import SensorKind
from edge.detectors.vitals import Quantity
from edge.routine_adapter import AmbientSensor, RoutineAdapter, load_model, save_model
from edge.vitals_adapter import VitalsAdapter
from sensors import contract
from sensors.codecs.vitals_line import decode_line, encode_line
from sensors.errors import DecodeError
from sensors.readings import Reading, SerialLine
from simulators.residents import routine as routine_gen
from simulators.scenario import ScenarioError, parse_scenario

# Settings made here without a spool path keep the agent's state files in tmp_path.
pytestmark = pytest.mark.usefixtures("edge_state_in_tmp")


TZ = "Europe/Amsterdam"
QUANTITY = {SensorKind.MOTION: "motion", SensorKind.DOOR: "opening", SensorKind.BED: "occupancy"}
SENSORS = {
    name: AmbientSensor(kind, room)
    for name, (kind, room) in routine_gen.SENSORS.items()
    if kind in QUANTITY
}


def at(day: date, hour: float) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(TZ)).timestamp() + hour * 3600


def live(adapter: RoutineAdapter, start: date, days: int, until: float) -> list[Finding]:
    """Feed the generated resident's readings up to `until`, advancing every 10 min."""
    out: list[Finding] = []
    events = [
        e
        for e in routine_gen.generate(start, days, seed=7, tz=TZ)
        if e.sensor in SENSORS and e.t < until
    ]
    tick = events[0].t
    for e in events:
        while tick + 600 < e.t:
            tick += 600
            out.extend(adapter.advance(tick))
        kind = SENSORS[e.sensor].kind
        out.extend(adapter.update([Reading(e.sensor, QUANTITY[kind], e.t, e.value)], e.t))
    return out


def test_learns_persists_and_alarms_on_inactivity(tmp_path: Path) -> None:
    state = tmp_path / "routine.json"
    start = date(2024, 3, 4)
    t0 = at(start, 0) - 6 * 3600
    adapter = RoutineAdapter(SENSORS, tz=TZ, start_t=t0, state_path=state)
    # 8 ordinary days, then the resident collapses at 10:30 on day 9.
    collapse = at(date(2024, 3, 12), 10.5)
    found = live(adapter, start, 9, collapse)
    profiles = [f for f in found if f.kind == "routine_profile"]
    assert len(profiles) >= 7  # one a day, at the noon boundary
    last = profiles[-1].detail
    assert last["days_learned"] == len(adapter.model.days) >= 6
    assert 6 * 60 < float(last["wake_min"] or 0) < 10 * 60  # the generator's ~07:15-08:00
    assert adapter.saves == len(profiles)
    # The state survives a restart: a new adapter loads what was written.
    assert len(load_model(state).days) == len(adapter.model.days)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file
    # Silence after the collapse: an inactivity alarm within the day.
    alarms: list[Finding] = []
    t = collapse
    while not alarms and t < collapse + 12 * 3600:
        t += 300
        alarms = [f for f in adapter.advance(t) if f.alarm is not None]
    (alarm,) = alarms
    assert alarm.alarm is contract.AlarmKind.INACTIVITY and alarm.on
    # Seen again: every resident condition is off, the inactivity one among them (the
    # alarm book cancels what is open).
    offs = [
        f
        for f in adapter.update([Reading("pir_living", "motion", t + 60, 1.0)], t + 60)
        if f.alarm is not None
    ]
    assert all(not f.on for f in offs) and alarm.condition in {f.condition for f in offs}
    # A repeated state is no new evidence (and no second cancel).
    assert adapter.update([Reading("pir_living", "motion", t + 61, 1.0)], t + 61) == []


def test_unreadable_state_is_set_aside(tmp_path: Path) -> None:
    state = tmp_path / "routine.json"
    state.write_text("{not json")
    model = load_model(state)
    assert model.days == []
    assert (tmp_path / "routine.json.bad").exists()
    save_model(state, model)
    assert load_model(state).days == []


def test_room_climate_is_not_ambient_evidence() -> None:
    adapter = RoutineAdapter(SENSORS, tz=TZ, start_t=0.0, state_path=None)
    assert adapter.update([Reading("room-1", "motion", 10.0, 1.0)], 10.0) == []
    assert adapter.update([Reading("pir_living", "temperature", 10.0, 21.0)], 10.0) == []


def settings(**extra: object) -> object:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        devices=[
            {"id": "room-1", "kind": "bthome", "address": "A4:C1:38:00:00:02"},
            {
                "id": "thermo-1",
                "kind": "bthome",
                "address": "A4:C1:38:00:00:03",
                "role": "vitals",
            },
            {"id": "vitals-1", "kind": "vitals", "transport": "serial", "port": "/dev/ttyUSB0"},
            {
                "id": "pir-1",
                "kind": "bthome",
                "address": "A4:C1:38:00:00:04",
                "role": "motion",
                "room": "living",
            },
        ],
        **extra,
    )


def test_vitals_band_change_and_alarm_with_routing_severity() -> None:
    adapter = VitalsAdapter.from_settings(settings())  # type: ignore[arg-type]
    assert adapter is not None and adapter.sensors == {"thermo-1", "vitals-1"}
    t = 1_700_000_000.0
    # Room temperature is not body temperature.
    assert adapter.update([Reading("room-1", "temperature", t, 39.5)], t) == []
    found = list(adapter.update([Reading("vitals-1", "sbp", t, 88.0)], t))  # a 3: red flag
    band = [f for f in found if f.kind == "news2_band_changed"][-1]
    assert band.detail["partial"] is True and band.detail["sub_sbp"] == 3
    (alarm,) = [f for f in found if f.alarm is not None]
    assert (alarm.alarm, alarm.severity) == (contract.AlarmKind.VITALS, contract.Severity.HIGH)
    found = list(
        adapter.update(
            [
                Reading("vitals-1", "hr", t + 60, 135.0),
                Reading("thermo-1", "temperature", t + 60, 39.5),
            ],
            t + 60,
        )
    )
    escalated = [f for f in found if f.alarm is not None]
    assert escalated[-1].severity is contract.Severity.CRITICAL  # aggregate >= 7
    # A reading with device status bits set is excluded and reported.
    found = list(
        adapter.update(
            [Reading("vitals-1", "spo2", t + 90, 80.0), Reading("vitals-1", "status", t + 90, 4.0)],
            t + 90,
        )
    )
    assert [f.kind for f in found] == ["reading_invalid"]


def test_default_detectors_follow_the_configured_roles(tmp_path: Path) -> None:
    from edge.app import default_detectors

    s = settings(spool={"path": str(tmp_path / "spool.sqlite")})
    names = [d.name for d in default_detectors(s, 1_700_000_000.0)]  # type: ignore[arg-type]
    assert names == ["routine", "vitals", "trends"]
    assert s.routine_state_path == tmp_path / "routine.json"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "quantities"),
    [
        ({"sbp": 128.0, "dbp": 82.0, "hr": 71.0}, ["sbp", "dbp", "hr", "status"]),
        ({"spo2": 96.0, "hr": 70.0}, ["spo2", "hr", "status"]),
        ({"temperature": 36.85}, ["temperature", "status"]),
        ({"weight": 74.3}, ["weight", "status"]),
    ],
)
def test_vitals_line_round_trip(values: dict[str, float], quantities: list[str]) -> None:
    device = {"sbp": "bp", "spo2": "ox", "temperature": "th", "weight": "sc"}[next(iter(values))]
    line = encode_line(device, {**values, "status": 0})
    frame = decode_line("vitals-1", SerialLine("/dev/ttyUSB0", line, 5.0))
    assert [r.quantity for r in frame.readings] == quantities
    assert {r.quantity: r.value for r in frame.readings} == {**values, "status": 0.0}


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"$MZV,1,bp,sbp=128*00",  # checksum
        b"MZV,1,bp,sbp=128*1C",  # no $
        b"$MZV,2,bp,sbp=128*" + f"{0:02X}".encode(),
        b"$GPGGA,1*5A",
    ],
)
def test_vitals_line_rejects_garbage(line: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_line("vitals-1", SerialLine("p", line, 0.0))


def test_vitals_line_rejects_bad_fields() -> None:
    good = encode_line("bp", {"sbp": 120.0})
    body = good[1 : good.index(b"*")].replace(b"sbp=120", b"sbp=nan")
    cs = 0
    for b in body:
        cs ^= b
    with pytest.raises(DecodeError):
        decode_line("v", SerialLine("p", b"$" + body + b"*" + f"{cs:02X}".encode(), 0.0))


WEARABLE_SCENARIO = """
[[devices]]
id = "wearable-1"
kind = "wearable"
mount = "waist"
replay = { code = "D07", subject = "SA01", trial = 1 }
[[devices]]
id = "door-1"
kind = "ambient"
role = "door"
room = "entrance"
[[devices]]
id = "vitals-1"
kind = "vitals"
[resident]
sensors = { front_door = "door-1" }
vitals = "vitals-1"
[[events]]
at = 60
action = "replay"
device = "wearable-1"
replay = { code = "F01", index = 2, start_s = 3 }
[[events]]
at = 61
action = "set"
device = "door-1"
value = 1
[[events]]
at = 62
action = "measure"
device = "vitals-1"
values = { sbp = 120 }
"""


def test_scenario_keys_for_wearable_ambient_vitals_resident() -> None:
    sc = parse_scenario(WEARABLE_SCENARIO)
    replay = sc.events[0].replay
    assert replay is not None and (replay.code, replay.index, replay.start_s) == ("F01", 2, 3.0)
    assert sc.devices[0].replay is not None and sc.devices[0].replay.trial == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('action = "replay"', "replay = {...}"),
        ('device = "door-1"\naction = "replay"\nreplay = {code = "F01"}', "needs a wearable"),
        ('device = "wearable-1"\naction = "set"\nvalue = 1', "needs a ambient"),
    ],
)
def test_scenario_refuses_mismatched_actions(bad: str, message: str) -> None:
    text = WEARABLE_SCENARIO + f"\n[[events]]\nat = 70\n{bad}\n"
    if "device" not in bad:
        text = text.replace('action = "replay"\n\n', 'action = "replay"\ndevice = "wearable-1"\n')
    with pytest.raises(ScenarioError, match=message.replace("{", r"\{").replace(".", r"\.")):
        parse_scenario(text.replace("at = 70\naction", 'at = 70\ndevice = "wearable-1"\naction', 1))


def test_unreadable_routine_state_is_a_cold_start_not_a_crash(tmp_path: Path) -> None:
    """A directory where the state file should be (or no read permission): the agent
    still starts, on the care-plan defaults."""
    state = tmp_path / "routine.json"
    state.mkdir()
    assert load_model(state).days == []


def test_a_vitals_alarm_carries_what_was_measured_within_the_wire_contract() -> None:
    """The operator reads "bloeddruk 88/52 mmHg (3 punten)", not only the points; with
    every parameter measured the alarm still fits the contract's detail limits."""
    adapter = VitalsAdapter.from_settings(settings(news2_scale=2, on_oxygen=True))  # type: ignore[arg-type]
    assert adapter is not None
    t = 1_700_000_000.0
    readings = [  # the systolic last: it makes the alarm critical, with all the rest known
        Reading("vitals-1", "dbp", t, 52.0),
        Reading("vitals-1", "hr", t, 95.0),
        Reading("vitals-1", "spo2", t, 90.0),
        Reading("vitals-1", "rr", t, 21.0),
        Reading("thermo-1", "temperature", t, 38.4),
        Reading("vitals-1", "sbp", t, 88.0),
    ]
    found = list(adapter.update(readings, t))
    alarm = [f for f in found if f.alarm is not None][-1]
    d = alarm.detail
    assert (d["val_sbp"], d["val_dbp"], d["sub_sbp"]) == (88.0, 52.0, 3)
    assert alarm.severity is contract.Severity.CRITICAL
    assert (d["val_hr"], d["val_spo2"], d["val_rr"], d["val_temp"]) == (95.0, 90.0, 21.0, 38.4)
    assert d["val_o2"] == 1.0 and d["spo2_scale"] == 2
    msg = contract.AlarmMessage(
        id=contract.new_id(),
        dwelling="dw-001",
        ts=t,
        action="raise",
        alarm_id=contract.new_id(),
        kind=contract.AlarmKind.VITALS,
        severity=contract.Severity.CRITICAL,
        detail=d,
    )
    assert contract.AlarmMessage.model_validate_json(msg.model_dump_json()).detail == d


def test_a_restart_keeps_the_low_spo2_that_raised_the_vitals_alarm(tmp_path: Path) -> None:
    """One fine temperature after a restart must not cancel the alarm a low SpO2 raised an
    hour before: the spot checks are kept (vitals.json) and count until they age out."""
    s = settings(spool={"path": str(tmp_path / "spool.sqlite")})
    t = 1_780_000_000.0
    first = VitalsAdapter.from_settings(s, t)  # type: ignore[arg-type]
    assert first is not None
    raised = [f for f in first.update([Reading("vitals-1", "spo2", t, 88.0)], t) if f.alarm]
    assert raised and raised[-1].on  # SpO2 88 % on air: a 3, a red flag
    assert (tmp_path / "vitals.json").exists()
    later = t + 3600
    again = VitalsAdapter.from_settings(s, later)  # type: ignore[arg-type]
    assert again is not None
    found = list(again.update([Reading("thermo-1", "temperature", later, 37.0)], later))
    assert not [f for f in found if f.alarm and not f.on]  # no cancel: SpO2 still counts
    assert [f.on for f in found if f.alarm] == [True]  # the level: still on (book: a no-op)
    # Once the SpO2 has aged out (4 h) and fresh vitals are fine, the alarm is cancelled.
    fine = t + 5 * 3600
    found = list(again.update([Reading("vitals-1", "spo2", fine, 97.0)], fine))
    levels = [f.on for f in found if f.alarm]
    assert levels and not any(levels)


def test_an_unreadable_vitals_state_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "vitals.json").write_text('{"version": 1, "spot": {"spo2": "low"}}')
    s = settings(spool={"path": str(tmp_path / "spool.sqlite")})
    adapter = VitalsAdapter.from_settings(s)  # type: ignore[arg-type]
    assert adapter is not None and adapter.pipeline.spot == {}
    assert (tmp_path / "vitals.json.bad").exists()


def band_and_oximeter(tmp_path: Path, now: float) -> VitalsAdapter:
    return VitalsAdapter(
        frozenset({"ox-1", "band-1"}),
        continuous=frozenset({"band-1"}),
        state_path=tmp_path / "vitals.json",
        now=now,
    )


def test_a_low_spot_check_a_band_had_replaced_does_not_come_back(tmp_path: Path) -> None:
    """SpO2 88 % (spot) raises the alarm; half an hour later the band's window says 97 %
    and the alarm is cancelled. A restart must not bring the 88 back, nor the alarm."""
    t = 1_780_000_000.0
    first = band_and_oximeter(tmp_path, t)
    raised = [f.on for f in first.update([Reading("ox-1", "spo2", t, 88.0)], t) if f.alarm]
    assert raised and raised[0]
    levels: list[bool] = []
    for k in range(25):  # a sample every 10 s: a well-filled 5-minute window
        tk = t + 1800 + 10 * k
        levels += [f.on for f in first.update([Reading("band-1", "spo2", tk, 97.0)], tk) if f.alarm]
    assert levels and not levels[-1]  # cancelled by the band's window
    later = t + 2700
    again = band_and_oximeter(tmp_path, later)
    assert (
        again.pipeline.value(Quantity.SPO2) is None or again.pipeline.spot[Quantity.SPO2][1] == 97.0
    )
    assert not [f for f in again.advance(later) if f.alarm and f.on]


def test_a_saved_value_from_the_future_is_left_out(tmp_path: Path) -> None:
    """A Pi that boots with its clock behind (no RTC): what was saved looks ahead of it;
    kept, it would hide every fresh reading until the clock caught up."""
    t = 1_780_000_000.0
    first = band_and_oximeter(tmp_path, t)
    first.update([Reading("ox-1", "spo2", t, 97.0)], t)
    behind = t - 86400.0
    again = band_and_oximeter(tmp_path, behind)
    assert again.pipeline.spot == {}
    found = list(again.update([Reading("ox-1", "spo2", behind + 60, 85.0)], behind + 60))
    levels = [f.on for f in found if f.alarm]
    assert levels and levels[0]  # the fresh low reading counts
