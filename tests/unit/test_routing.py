"""The routing and escalation policy (alerts/routing.py): examples, then Hypothesis
properties over random policies, alarms, received times (any time of day and week,
Europe/Amsterdam with its DST changes) and acknowledgement times."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import Contact
from alerts.routing import (
    ALL_DAYS,
    DAYTIME,
    DEFAULT_POLICY,
    DueStep,
    Policy,
    Recipient,
    Target,
    Window,
    default_policy,
    due,
    format_window,
    handed_over_at,
    may_tell,
    parse_window,
    schedule,
)
from sensors.contract import AlarmKind, Severity

AMS = ZoneInfo("Europe/Amsterdam")
NIGHT_NEIGHBOUR = (parse_window("07:00-22:00"),)


def at(text: str) -> float:
    """A local Amsterdam time as UNIX seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=AMS).timestamp()


def plan_of(policy: Policy, kind: AlarmKind, severity: Severity, received: float) -> list[str]:
    """The plan as readable rows: 'offset target'."""
    plan = schedule(policy, kind=kind, severity=severity, received_at=received, tz=AMS)
    return [f"{s.due_at - received:g} {s.target.kind}:{s.target.contact_id}" for s in plan]


# -- windows -----------------------------------------------------------------------


def test_parse_window_specs() -> None:
    assert parse_window("07:00-22:00") == Window(ALL_DAYS, time(7), time(22))
    weekdays = Window(frozenset(range(5)), time(8), time(18))
    assert parse_window("ma-vr 08:00-18:00") == weekdays
    assert parse_window("mon-fri 08:00-18:00") == weekdays
    assert parse_window("Ma-Vr 8:00-18:00") == weekdays
    assert parse_window("za,zo 10:00-16:00").days == frozenset({5, 6})
    assert parse_window("vr-ma 22:00-07:00").days == frozenset({4, 5, 6, 0})
    assert parse_window("00:00-24:00") == Window(ALL_DAYS, time(0), time(0))
    assert format_window(weekdays) == "ma-vr 08:00-18:00"
    assert format_window(parse_window("mon,wed,fri-sun 22:00-07:00")) == "ma,wo,vr-zo 22:00-07:00"
    assert format_window(parse_window("00:00-24:00")) == "00:00-24:00"
    assert format_window(DAYTIME) == "07:00-22:00"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "expected"),
        ("08:00", "expected"),
        ("ma-vr", "expected"),
        ("25:00-07:00", "time of day"),
        ("08:60-09:00", "time of day"),
        ("24:00-07:00", "time of day"),
        ("8-18", "expected"),
        ("8:00-18", "time of day"),
        ("xx 08:00-09:00", "unknown days"),
        ("ma-vr-za 08:00-09:00", "unknown days"),
        ("ma, 08:00-09:00", "unknown days"),
        ("08:00-08:00", "empty"),
        ("ma vr 08:00-09:00", "expected"),
    ],
)
def test_parse_window_refuses_bad_specs_clearly(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_window(spec)


def test_a_window_across_midnight_belongs_to_its_starting_day() -> None:
    friday_night = parse_window("vr 22:00-07:00")
    assert friday_night.contains(datetime(2026, 11, 20, 23, 0, tzinfo=AMS))  # Friday 23:00
    assert friday_night.contains(datetime(2026, 11, 21, 6, 59, tzinfo=AMS))  # Saturday 06:59
    assert not friday_night.contains(datetime(2026, 11, 20, 3, 0, tzinfo=AMS))  # Friday 03:00
    assert not friday_night.contains(datetime(2026, 11, 21, 7, 0, tzinfo=AMS))  # end excluded
    assert not friday_night.contains(datetime(2026, 11, 21, 23, 0, tzinfo=AMS))  # Saturday


def test_window_and_policy_values_are_checked() -> None:
    with pytest.raises(ValueError):
        Window(frozenset(), time(7), time(8))
    with pytest.raises(ValueError):
        Window(frozenset({7}), time(7), time(8))
    with pytest.raises(ValueError):
        Recipient("c-1", -1.0)
    with pytest.raises(ValueError):
        Recipient("c-1", float("nan"))
    with pytest.raises(ValueError, match="once"):
        Policy((Recipient("c-1", 60), Recipient("c-1", 60)))
    with pytest.raises(ValueError):
        Policy((), centre_after_s=float("inf"))


# -- examples ----------------------------------------------------------------------

POLICY = Policy(
    (
        Recipient("neighbour", 120, NIGHT_NEIGHBOUR),
        Recipient("daughter", 300),
        Recipient("son", 300),
    ),
    installer="installer",
)


def test_neighbour_not_at_night_is_skipped_and_the_next_contact_asked_at_once() -> None:
    night = at("2026-11-22T03:00")
    assert plan_of(POLICY, AlarmKind.INACTIVITY, Severity.HIGH, night) == [
        "0 contact:daughter",
        "300 contact:son",
        "600 centre:None",
    ]
    day = at("2026-11-22T10:00")
    assert plan_of(POLICY, AlarmKind.INACTIVITY, Severity.HIGH, day) == [
        "0 contact:neighbour",
        "120 contact:daughter",
        "420 contact:son",
        "720 centre:None",
    ]
    assert POLICY.bound_s == 720


def test_availability_is_evaluated_at_each_recipients_turn() -> None:
    # At 21:58 the neighbour is available for the first step only; the second neighbour's
    # turn comes at 22:03, when they are not: skipped, and the centre comes right after.
    policy = Policy(
        (Recipient("a", 300), Recipient("neighbour", 300, NIGHT_NEIGHBOUR), Recipient("b", 60))
    )
    assert plan_of(policy, AlarmKind.VITALS, Severity.MEDIUM, at("2026-11-22T21:58")) == [
        "0 contact:a",
        "300 contact:b",
        "360 centre:None",
    ]


def test_technical_at_night_reaches_the_installer_only() -> None:
    assert plan_of(POLICY, AlarmKind.TECHNICAL, Severity.LOW, at("2026-11-22T03:00")) == [
        "0 installer:installer"
    ]
    # In the daytime the family is told too, all at once; never the centre.
    assert plan_of(POLICY, AlarmKind.TECHNICAL, Severity.HIGH, at("2026-11-22T10:00")) == [
        "0 installer:installer",
        "0 contact:neighbour",
        "0 contact:daughter",
        "0 contact:son",
    ]
    no_installer = Policy(POLICY.recipients)
    assert plan_of(no_installer, AlarmKind.TECHNICAL, Severity.LOW, at("2026-11-22T23:30")) == []


def test_an_all_clear_reaches_a_contact_only_when_they_could_be_asked() -> None:
    night, day = at("2026-11-22T03:00"), at("2026-11-22T10:00")
    # The neighbour is never asked at night; the daughter (no windows) is, but family
    # hear of a technical alarm in the daytime only; the installer always.
    assert not may_tell(POLICY, "neighbour", AlarmKind.INACTIVITY, night, AMS)
    assert may_tell(POLICY, "neighbour", AlarmKind.INACTIVITY, day, AMS)
    assert may_tell(POLICY, "daughter", AlarmKind.INACTIVITY, night, AMS)
    assert not may_tell(POLICY, "daughter", AlarmKind.TECHNICAL, night, AMS)
    assert may_tell(POLICY, "daughter", AlarmKind.TECHNICAL, day, AMS)
    assert may_tell(POLICY, "installer", AlarmKind.TECHNICAL, night, AMS)


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        (AlarmKind.PERSONAL, Severity.HIGH),
        (AlarmKind.FALL, Severity.MEDIUM),
        (AlarmKind.LONG_LIE, Severity.HIGH),
        (AlarmKind.VITALS, Severity.CRITICAL),
    ],
)
def test_shortcut_goes_to_the_centre_at_once_with_the_family_in_parallel(
    kind: AlarmKind, severity: Severity
) -> None:
    received = at("2026-11-22T03:00")
    plan = schedule(POLICY, kind=kind, severity=severity, received_at=received, tz=AMS)
    assert [(s.target.kind, s.target.contact_id, s.due_at) for s in plan] == [
        ("centre", None, received),
        ("contact", "daughter", received),  # the neighbour: not at night
        ("contact", "son", received),
    ]
    assert handed_over_at(plan) == received
    # Taken on at once: the centre still handles it (and everyone due is told).
    assert due(plan, now=received, taken_on_at=received, done=set()) == plan


def test_centre_after_caps_the_escalation_and_stays_the_last_step() -> None:
    policy = Policy(POLICY.recipients, centre_after_s=200)
    assert policy.bound_s == 200
    assert plan_of(policy, AlarmKind.INACTIVITY, Severity.HIGH, at("2026-11-22T10:00")) == [
        "0 contact:neighbour",
        "120 contact:daughter",
        "200 centre:None",
    ]
    assert plan_of(
        Policy(POLICY.recipients, centre_after_s=0),
        AlarmKind.INACTIVITY,
        Severity.LOW,
        at("2026-11-22T10:00"),
    ) == ["0 contact:neighbour", "0 centre:None"]


def test_no_recipient_available_goes_to_the_centre_at_once() -> None:
    only_neighbour = Policy((Recipient("neighbour", 120, NIGHT_NEIGHBOUR),))
    night = at("2026-11-22T03:00")
    assert plan_of(only_neighbour, AlarmKind.INACTIVITY, Severity.MEDIUM, night) == [
        "0 centre:None"
    ]
    assert plan_of(DEFAULT_POLICY, AlarmKind.INACTIVITY, Severity.LOW, night) == ["0 centre:None"]
    assert DEFAULT_POLICY.bound_s == 0


def test_taking_on_stops_the_steps_not_yet_due() -> None:
    received = at("2026-11-22T10:00")
    plan = schedule(
        POLICY, kind=AlarmKind.INACTIVITY, severity=Severity.HIGH, received_at=received, tz=AMS
    )
    first = due(plan, now=received, taken_on_at=None, done=set())
    assert [s.target.contact_id for s in first] == ["neighbour"]
    assert due(plan, now=received + 60, taken_on_at=None, done={0}) == ()
    # The daughter comes due at +120; the neighbour takes it on at +100: nobody else.
    assert due(plan, now=received + 10_000, taken_on_at=received + 100, done={0}) == ()
    later = due(plan, now=received + 10_000, taken_on_at=None, done={0})
    assert [s.index for s in later] == [1, 2, 3]
    assert later[-1].target == Target("centre")


def test_default_policy_keeps_priority_order_and_contacts_windows() -> None:
    contacts = [
        Contact("c-1", "dw-001", "Ann", "a@x.org"),
        Contact("c-i", "dw-001", "Installer", None, role="installer"),
        Contact("c-2", "dw-001", "Buur", None, role="neighbour", windows=NIGHT_NEIGHBOUR),
    ]
    policy = default_policy(contacts, 90)
    assert policy.recipients == (
        Recipient("c-1", 90),
        Recipient("c-2", 90, NIGHT_NEIGHBOUR),
    )
    assert policy.installer == "c-i"
    assert default_policy(contacts, 90, installer="c-1").installer == "c-1"
    assert policy.centre_after_s is None


# -- properties --------------------------------------------------------------------

# 2015-2035: every time of day and day of week, and the DST changes in between.
_SPAN = (datetime(2015, 1, 1, tzinfo=UTC).timestamp(), datetime(2035, 1, 1, tzinfo=UTC).timestamp())
# Amsterdam's DST changes (01:00 UTC, last Sundays of March and October) of a few years.
_DST = [
    datetime(y, m, d, 1, tzinfo=UTC).timestamp()
    for y, m, d in [(2025, 3, 30), (2025, 10, 26), (2026, 3, 29), (2026, 10, 25), (2027, 3, 28)]
]

minutes = st.integers(0, 24 * 60 - 1)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start, end = draw(minutes), draw(minutes)
    if start == end:
        start = end = 0  # the only window with equal ends: all day
    return Window(days, time(start // 60, start % 60), time(end // 60, end % 60))


received_times = st.one_of(
    st.floats(*_SPAN),
    st.builds(lambda t, d: t + d, st.sampled_from(_DST), st.floats(-6 * 3600, 6 * 3600)),
)
waits = st.one_of(st.integers(0, 1800).map(float), st.floats(0, 3600))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    ids = draw(st.lists(st.sampled_from([f"c-{i}" for i in range(8)]), unique=True, max_size=6))
    recipients = tuple(
        Recipient(cid, draw(waits), tuple(draw(st.lists(windows(), max_size=2)))) for cid in ids
    )
    installer = draw(st.one_of(st.none(), st.sampled_from(["c-0", "c-7", "inst"])))
    centre_after = draw(st.one_of(st.none(), waits))
    family_windows = draw(
        st.one_of(st.just((DAYTIME,)), st.lists(windows(), max_size=2).map(tuple))
    )
    return Policy(recipients, centre_after, installer, family_windows)


kinds = st.sampled_from(list(AlarmKind))
severities = st.sampled_from(list(Severity))


def _available(ws: tuple[Window, ...], t: float) -> bool:
    return not ws or any(w.contains(datetime.fromtimestamp(t, AMS)) for w in ws)


def _in_window_oracle(w: Window, dt: datetime) -> bool:
    """Minute-of-week arithmetic, independent of Window.contains."""
    week = 7 * 24 * 60
    at_min = dt.weekday() * 1440 + dt.hour * 60 + dt.minute
    start = w.start.hour * 60 + w.start.minute
    length = (w.end.hour * 60 + w.end.minute - start) % 1440 or 1440
    return any((at_min - (d * 1440 + start)) % week < length for d in w.days)


# No deadlines: two shared cores make timings noisy; the examples are small anyway.
@settings(max_examples=300, deadline=None)
@given(windows(), st.datetimes(timezones=st.just(AMS)))
def test_window_contains_agrees_with_minute_of_week_arithmetic(w: Window, dt: datetime) -> None:
    assert w.contains(dt) == _in_window_oracle(w, dt)


@settings(deadline=None)
@given(windows())
def test_format_then_parse_gives_the_same_window(w: Window) -> None:
    assert parse_window(format_window(w)) == w


@settings(max_examples=400, deadline=None)
@given(
    policies(),
    kinds,
    severities,
    received_times,
    st.one_of(st.none(), st.floats(0, 10_000)),
    st.lists(st.floats(0, 10_000), max_size=25),
)
def test_every_alarm_is_taken_on_or_handed_to_the_centre_within_its_bound(
    policy: Policy,
    kind: AlarmKind,
    severity: Severity,
    received: float,
    taken_after: float | None,
    tick_offsets: list[float],
) -> None:
    plan = schedule(policy, kind=kind, severity=severity, received_at=received, tz=AMS)
    taken_on_at = None if taken_after is None else received + taken_after

    # The plan: indexes 0.. in order, sorted by time, nothing before the alarm.
    assert [s.index for s in plan] == list(range(len(plan)))
    assert [s.due_at for s in plan] == sorted(s.due_at for s in plan)
    assert all(s.due_at >= received and s.reason for s in plan)
    # No recipient gets two steps for the same alarm; one centre step at most.
    people = [s.target.contact_id for s in plan if s.target.kind != "centre"]
    assert len(people) == len(set(people))
    assert sum(s.target.kind == "centre" for s in plan) <= 1
    # Every contact asked is available at their turn, and in the policy.
    listed = {r.contact_id: r for r in policy.recipients}
    for s in plan:
        if s.target.kind == "contact":
            assert s.target.contact_id in listed
            assert _available(listed[s.target.contact_id].windows, s.due_at)

    # Ticks at random moments, at the bound, and past everything; `done` accumulates.
    bound_at = received + policy.bound_s
    last = max([s.due_at for s in plan], default=received) + 1
    ticks = sorted({*(received + o for o in tick_offsets), received, bound_at, last})
    done: set[int] = set()
    centre_told_at: float | None = None
    for now in ticks:
        step = due(plan, now=now, taken_on_at=taken_on_at, done=done)
        for s in step:
            assert s.index not in done  # no step index is returned twice
            assert s.due_at <= now
            assert taken_on_at is None or s.due_at <= taken_on_at
            done.add(s.index)
            if s.target.kind == "centre":
                centre_told_at = now
    if kind is AlarmKind.TECHNICAL:
        # The operators' queue handles it: no centre, no escalation, all at once.
        assert handed_over_at(plan) is None
        assert all(s.due_at == received for s in plan)
        family = [s for s in plan if s.target.kind == "contact"]
        if not _available(policy.technical_family_windows, received):
            assert family == []
        installer = [s.target.contact_id for s in plan if s.target.kind == "installer"]
        assert installer == ([policy.installer] if policy.installer else [])
        return
    centre = handed_over_at(plan)
    assert centre is not None and centre <= bound_at
    if taken_on_at is None or centre <= taken_on_at:
        # Not taken on before the centre's turn: handed over, by the tick at the bound.
        assert centre_told_at is not None and centre_told_at <= bound_at
    else:
        # Taken on by a person before the centre's turn (so within the bound): not handed.
        assert centre_told_at is None and taken_on_at < bound_at
    shortcut = kind in (AlarmKind.PERSONAL, AlarmKind.FALL, AlarmKind.LONG_LIE) or (
        severity is Severity.CRITICAL
    )
    if shortcut:
        assert centre == received and centre_told_at == received  # whatever taking on


@settings(max_examples=300, deadline=None)
@given(policies(), severities, received_times)
def test_technical_never_schedules_family_at_night(
    policy: Policy, severity: Severity, received: float
) -> None:
    daytime = Policy(policy.recipients, policy.centre_after_s, policy.installer)  # (DAYTIME,)
    plan = schedule(
        daytime, kind=AlarmKind.TECHNICAL, severity=severity, received_at=received, tz=AMS
    )
    local = datetime.fromtimestamp(received, AMS).time()
    if local >= time(22) or local < time(7):
        assert [s.target.kind for s in plan] == (["installer"] if policy.installer else [])


def test_dst_night_is_local_night() -> None:
    # 2026-03-29: clocks go from 02:00 to 03:00. 06:30 local is still night for the
    # neighbour, 07:00 local (05:00 UTC, not 06:00 UTC) is day.
    neighbour = Policy((Recipient("neighbour", 60, NIGHT_NEIGHBOUR),))
    assert plan_of(neighbour, AlarmKind.INACTIVITY, Severity.HIGH, at("2026-03-29T06:30")) == [
        "0 centre:None"
    ]
    seven = datetime(2026, 3, 29, 5, 0, tzinfo=UTC).timestamp()
    assert plan_of(neighbour, AlarmKind.INACTIVITY, Severity.HIGH, seven)[0] == (
        "0 contact:neighbour"
    )


def test_due_step_is_a_value() -> None:
    step = DueStep(0, Target("centre"), 1.0, "why")
    assert step == DueStep(0, Target("centre"), 1.0, "why")
    with pytest.raises(AttributeError):
        step.due_at = 2.0  # type: ignore[misc]
