"""The monthly report page (hub.console.reports) as the care organisation reads it: pure
view models over `alerts.impact.MonthlyReport`, in the reader's language and the hub's
time zone. No I/O.

Every figure has a name (`alarms`, `first-p90`, `kind-fall`, ...): the summary shows the
total's as `id="total-<name>"`, the tables each dwelling's as `class="f-<name>"` in the
row `data-dwelling="<id>"` (the total row: `data-dwelling="total"`). The tests read them
there."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from alerts.impact import MIN_SAMPLE, DwellingFigures, Figures, Month, MonthlyReport, Spread
from alerts.model import AlarmKind, Outcome
from alerts.present import date_time, number
from alerts.texts import KIND_LABELS, SEVERITY_LABELS
from hub.console.present import SEVERITY_ORDER
from hub.console.report_charts import BarChart, Part, Stack, Value, hbars, stacked
from hub.console.texts import UI
from hub.console.texts_reports import MONTH_NAMES

CHART_DWELLINGS_MAX: Final = 20  # more dwellings than this: the charts show the worst
CSV_PATH: Final = "/api/v1/reports/monthly.csv"


def month_name(month: Month, lang: str) -> str:
    """ "oktober 2025", "October 2025"."""
    return f"{MONTH_NAMES[lang][month.month - 1]} {month.year}"


def _day(ts: float, tz: ZoneInfo, lang: str) -> str:
    local = datetime.fromtimestamp(ts, tz)
    return f"{local.day} {MONTH_NAMES[lang][local.month - 1]} {local.year}"


def seconds(value: float | None, lang: str) -> str:
    """A response time, to a tenth of a second: "47,5 s", "1 min 51 s", "2 min",
    "1 u 5 min" ("1 h 5 min"); "–" when there is none."""
    if value is None:
        return UI[lang]["report_none"]
    s = round(max(0.0, value), 1)
    if s < 60:
        return f"{number(s, lang)} s"
    if s < 3600:
        minutes, rest = divmod(s, 60)
        rest = round(rest, 1)
        return f"{int(minutes)} min" + (f" {number(rest, lang)} s" if rest else "")
    hours, rest = divmod(round(s / 60), 60)
    hour = UI[lang]["report_hour"]
    return f"{hours} {hour}" + (f" {rest} min" if rest else "")


def share(value: float | None, lang: str) -> str:
    """A share as a whole percentage, "38%"; "–" when there is none (nothing to divide)."""
    if value is None:
        return UI[lang]["report_none"]
    return f"{round(100 * value)}%"


def hours(value: float, lang: str) -> str:
    """Downtime: "29,5 u", "26 h"."""
    return f"{number(round(value, 2), lang)} {UI[lang]['report_hour']}"


def outages(n: int, lang: str) -> str:
    t = UI[lang]
    return t["report_outage_one"] if n == 1 else t["report_outage_many"].format(n=n)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- the summary and the tables: every figure by name --------------------------------------


def _spread_text(spread: Spread, which: str, lang: str) -> str:
    if which == "n":
        return str(spread.n)
    value = spread.p50_s if which == "p50" else spread.p90_s
    star = "*" if spread.small_sample and value is not None else ""
    return seconds(value, lang) + star


Getter = Callable[[Figures, str], str]


def _int(attr: str, key: str | None = None) -> Getter:
    """A count: `Figures.<attr>`, or `Figures.<attr>[key]` for the per-kind ones."""

    def get(f: Figures, lang: str) -> str:
        value = getattr(f, attr)
        return str(value if key is None else value[key])

    return get


def _spread(attr: str, which: str) -> Getter:
    def get(f: Figures, lang: str) -> str:
        return _spread_text(getattr(f, attr), which, lang)

    return get


def _figures() -> dict[str, Getter]:
    """Each figure's name and how it reads."""
    out: dict[str, Getter] = {"alarms": _int("alarms"), "care": _int("care_alarms")}
    out |= {f"kind-{k.value}": _int("by_kind", k.value) for k in AlarmKind}
    out |= {f"sev-{s.value}": _int("by_severity", s.value) for s in SEVERITY_ORDER}
    for name, attr in (("first", "first_response"), ("taken", "taken_on")):
        out |= {
            f"{name}-n": _spread(attr, "n"),
            f"{name}-p50": _spread(attr, "p50"),
            f"{name}-p90": _spread(attr, "p90"),
        }
    out |= {
        "noresp": _int("no_response"),
        "centre": _int("to_centre"),
        "centre-direct": _int("to_centre_direct"),
        "centre-escalated": _int("to_centre_escalated"),
        "centre-share": lambda f, lang: share(f.to_centre_share, lang),
    }
    out |= {f"out-{o.value}": _int("outcomes", o.value) for o in Outcome}
    out |= {
        "with-outcome": _int("with_outcome"),
        "false-share": lambda f, lang: share(f.false_alarm_share, lang),
        "without-outcome": _int("without_outcome"),
        "cancelled": _int("cancelled_at_edge"),
        "open": _int("still_open"),
        "downtime": lambda f, lang: hours(f.downtime_h, lang),
        "outages": _int("outages"),
    }
    return out


FIGURES: Final = _figures()


@dataclass(frozen=True, slots=True)
class Fact:
    name: str  # the figure's name: the element's id is "total-<name>"
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class FactGroup:
    title: str
    facts: tuple[Fact, ...]


def _summary(f: Figures, lang: str) -> tuple[FactGroup, ...]:
    t = UI[lang]

    def facts(*names: tuple[str, str]) -> tuple[Fact, ...]:
        return tuple(Fact(name, label, FIGURES[name](f, lang)) for name, label in names)

    return (
        FactGroup(
            t["report_alarms"],
            facts(
                ("alarms", t["report_total"]),
                ("care", t["report_care"]),
                ("kind-technical", t["report_technical"]),
            ),
        ),
        FactGroup(
            t["report_first"],
            facts(("first-p50", "p50"), ("first-p90", "p90"), ("noresp", t["report_noresp"])),
        ),
        FactGroup(t["report_taken"], facts(("taken-p50", "p50"), ("taken-p90", "p90"))),
        FactGroup(
            t["report_centre"],
            facts(
                ("centre", t["report_centre_total"]),
                ("centre-share", t["report_centre_share"]),
                ("centre-direct", t["report_centre_direct"]),
                ("centre-escalated", t["report_centre_escalated"]),
            ),
        ),
        FactGroup(
            t["report_outcomes"],
            facts(
                ("false-share", t["report_false_share"]),
                ("out-false_alarm", t["report_false"]),
                ("with-outcome", t["report_with_outcome"]),
            ),
        ),
        FactGroup(
            t["report_downtime"],
            facts(("downtime", t["report_downtime_h"]), ("outages", t["report_outages"])),
        ),
    )


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the figure's name: the cells' class is "f-<name>"
    head: str


@dataclass(frozen=True, slots=True)
class Group:
    """Columns under one heading; without one, each column's head spans both rows."""

    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class TableRow:
    scope: str  # the dwelling's id, or "total"
    label: str
    link: str | None  # the dwelling page, for a registered dwelling
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    title: str
    groups: tuple[Group, ...]
    rows: tuple[TableRow, ...]

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(c for g in self.groups for c in g.columns)

    @property
    def grouped(self) -> bool:
        return any(g.title for g in self.groups)


def _table_groups(lang: str) -> tuple[tuple[str, str, tuple[Group, ...]], ...]:
    t = UI[lang]

    def cols(*pairs: tuple[str, str]) -> tuple[Column, ...]:
        return tuple(Column(name, head) for name, head in pairs)

    def spread(name: str) -> tuple[Column, ...]:
        return cols(
            (f"{name}-n", t["report_count"]), (f"{name}-p50", "p50"), (f"{name}-p90", "p90")
        )

    kinds = KIND_LABELS[lang]
    severities = SEVERITY_LABELS[lang]
    return (
        (
            "table-response",
            t["report_table_response"],
            (
                Group("", cols(("care", _cap(t["report_care"])))),
                Group(t["report_first"], spread("first")),
                Group(t["report_taken"], spread("taken")),
                Group("", cols(("noresp", t["report_noresp_head"]))),
                Group(
                    t["report_centre"],
                    cols(
                        ("centre", t["report_centre_total"]),
                        ("centre-direct", t["report_centre_direct"]),
                        ("centre-escalated", t["report_centre_escalated"]),
                        ("centre-share", t["report_centre_share"]),
                    ),
                ),
            ),
        ),
        (
            "table-kinds",
            t["report_table_kinds"],
            (
                Group("", cols(("alarms", t["report_alarms"]))),
                Group(t["report_kind"], cols(*((f"kind-{k.value}", kinds[k]) for k in AlarmKind))),
                Group(
                    t["report_severity"],
                    cols(*((f"sev-{s.value}", severities[s]) for s in SEVERITY_ORDER)),
                ),
            ),
        ),
        (
            "table-outcomes",
            t["report_table_outcomes"],
            (
                Group(
                    t["report_outcomes"],
                    cols(
                        *((f"out-{o.value}", t[f"outcome_{o.value}"]) for o in Outcome),
                        ("with-outcome", t["report_with_outcome"]),
                        ("false-share", t["report_false_share"]),
                    ),
                ),
                Group(
                    t["report_no_code"],
                    cols(
                        ("without-outcome", t["report_without_outcome"]),
                        ("cancelled", t["report_cancelled"]),
                        ("open", t["report_still_open"]),
                    ),
                ),
            ),
        ),
        (
            "table-downtime",
            t["report_table_downtime"],
            (
                Group(
                    "",
                    cols(
                        ("downtime", _cap(t["report_downtime_h"])),
                        ("outages", _cap(t["report_outages"])),
                    ),
                ),
            ),
        ),
    )


def _tables(
    report: MonthlyReport, label: Callable[[str], str], registered: Collection[str], lang: str
) -> tuple[Table, ...]:
    t = UI[lang]
    scopes: list[tuple[str, str, str | None, Figures]] = [
        (
            d.dwelling,
            label(d.dwelling),
            f"/dwellings/{d.dwelling}" if d.dwelling in registered else None,
            d.figures,
        )
        for d in report.dwellings
    ]
    scopes.append(("total", t["report_all_row"], None, report.total))
    out = []
    for table_id, title, groups in _table_groups(lang):
        columns = [c for g in groups for c in g.columns]
        rows = tuple(
            TableRow(
                scope,
                text,
                link,
                tuple(Cell(c.name, FIGURES[c.name](f, lang)) for c in columns),
            )
            for scope, text, link, f in scopes
        )
        out.append(Table(table_id, title, groups, rows))
    return tuple(out)


# -- the charts ----------------------------------------------------------------------------


def _dwelling_name(d: DwellingFigures, label: Callable[[str], str]) -> str:
    name = label(d.dwelling)
    return d.dwelling if name == d.dwelling else f"{name} ({d.dwelling})"


def _response_chart(
    report: MonthlyReport, label: Callable[[str], str], attr: str, lang: str
) -> tuple[BarChart, str]:
    """p50 and p90 per dwelling (all dwellings first, as a row); with more dwellings than
    CHART_DWELLINGS_MAX, those with the longest p90. Returns the chart and a note when it
    left dwellings out."""
    t = UI[lang]
    shown = list(report.dwellings)
    note = ""
    if len(shown) > CHART_DWELLINGS_MAX:
        with_values = [d for d in shown if getattr(d.figures, attr).p90_s is not None]
        with_values.sort(key=lambda d: (-(getattr(d.figures, attr).p90_s or 0.0), d.dwelling))
        shown = with_values[:CHART_DWELLINGS_MAX]
        note = t["report_chart_cap"].format(n=len(shown), m=len(report.dwellings))

    def values(spread: Spread) -> list[Value]:
        if spread.n == 0:
            return [Value(None, t["report_no_values"], "r-bar")]
        return [
            Value(spread.p50_s, _spread_text(spread, "p50", lang), "r-bar r-p50", "p50"),
            Value(spread.p90_s, _spread_text(spread, "p90", lang), "r-bar r-p90", "p90"),
        ]

    rows = [(t["report_all"], values(getattr(report.total, attr)))]
    rows += [(_dwelling_name(d, label), values(getattr(d.figures, attr))) for d in shown]
    return hbars(rows), note


def _downtime_chart(
    report: MonthlyReport, label: Callable[[str], str], lang: str
) -> tuple[BarChart, str]:
    t = UI[lang]
    down = [d for d in report.dwellings if d.figures.downtime_h > 0]
    note = ""
    if len(down) > CHART_DWELLINGS_MAX:
        down.sort(key=lambda d: (-d.figures.downtime_h, d.dwelling))
        note = t["report_downtime_cap"].format(n=CHART_DWELLINGS_MAX, m=len(down))
        down = down[:CHART_DWELLINGS_MAX]
    rows = [
        (
            _dwelling_name(d, label),
            [
                Value(
                    d.figures.downtime_h,
                    f"{hours(d.figures.downtime_h, lang)} · {outages(d.figures.outages, lang)}",
                    "r-bar r-down",
                )
            ],
        )
        for d in down
    ]
    return hbars(rows), note


def _kinds_chart(f: Figures, lang: str) -> BarChart:
    labels = KIND_LABELS[lang]
    return hbars(
        [
            (
                _cap(labels[k]),
                [Value(f.by_kind[k.value], str(f.by_kind[k.value]), f"r-bar r-kind-{k.value}")],
            )
            for k in AlarmKind
        ]
    )


def _severity_chart(f: Figures, lang: str) -> BarChart:
    labels = SEVERITY_LABELS[lang]
    return hbars(
        [
            (
                _cap(labels[s]),
                [
                    Value(
                        f.by_severity[s.value],
                        str(f.by_severity[s.value]),
                        f"r-bar r-sev-{s.value}",
                    )
                ],
            )
            for s in SEVERITY_ORDER
        ]
    )


def _outcome_stack(f: Figures, lang: str) -> Stack:
    t = UI[lang]
    parts = [
        Part(f"r-out-{o.value}", t[f"outcome_{o.value}"], f.outcomes[o.value]) for o in Outcome
    ]
    parts += [
        Part("r-out-none", _cap(t["report_without_outcome"]), f.without_outcome),
        Part("r-out-cancelled", _cap(t["report_cancelled"]), f.cancelled_at_edge),
        Part("r-out-open", _cap(t["report_still_open"]), f.still_open),
    ]
    return stacked(parts)


def _centre_stack(f: Figures, lang: str) -> Stack:
    t = UI[lang]
    return stacked(
        [
            Part("r-centre-direct", _cap(t["report_centre_direct"]), f.to_centre_direct),
            Part("r-centre-escalated", _cap(t["report_centre_escalated"]), f.to_centre_escalated),
            Part("r-centre-not", _cap(t["report_centre_not"]), f.care_alarms - f.to_centre),
        ]
    )


@dataclass(frozen=True, slots=True)
class LegendItem:
    css: str
    label: str
    text: str  # "4 (33%)"


def legend(stack: Stack, lang: str) -> tuple[LegendItem, ...]:
    t = UI[lang]
    return tuple(
        LegendItem(
            p.css,
            p.label,
            t["report_legend_share"].format(
                count=p.count, share=share(p.count / stack.total if stack.total else None, lang)
            ),
        )
        for p in stack.parts
    )


# -- the page ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthLink:
    month: str  # "2025-09": the link's ?month=
    label: str  # "september 2025"


@dataclass(frozen=True, slots=True)
class Picker:
    """The month navigation: the previous and next month (None: not begun yet) and the
    month field's value and bounds."""

    value: str
    previous: MonthLink | None
    next: MonthLink | None
    max: str  # the current month: later ones have not begun


def picker(month: Month | None, now: float, tz: ZoneInfo, lang: str, default: Month) -> Picker:
    current = Month.of(now, tz)
    if month is None:
        return Picker(str(default), None, None, str(current))
    prev = month.previous() if month.year > 1970 or month.month > 1 else None
    nxt = month.next() if month.next() <= current else None
    return Picker(
        str(month),
        MonthLink(str(prev), month_name(prev, lang)) if prev else None,
        MonthLink(str(nxt), month_name(nxt, lang)) if nxt else None,
        str(current),
    )


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    chart: BarChart
    note: str = ""


@dataclass(frozen=True, slots=True)
class StackChart:
    id: str
    title: str
    stack: Stack
    legend: tuple[LegendItem, ...]


@dataclass(frozen=True, slots=True)
class ReportPage:
    month: str  # "2025-10"
    title: str  # "oktober 2025"
    period: str
    running: str  # "" for a month that is over
    empty: bool  # nothing happened in the month
    csv: str  # the CSV download's URL
    summary: tuple[FactGroup, ...]
    small_sample: bool  # some p50/p90 rest on fewer than MIN_SAMPLE values: the note
    small_note: str
    kinds: Chart
    severities: Chart
    first: Chart
    taken: Chart
    downtime: Chart
    outcomes: StackChart
    centre: StackChart
    tables: tuple[Table, ...]  # the wide ones, under the charts
    downtime_table: Table  # beside the downtime chart


def report_page(
    report: MonthlyReport,
    label: Callable[[str], str],
    registered: Collection[str],
    lang: str,
) -> ReportPage:
    """The page for `report`; `label`: a dwelling's name in the registry (its id when it
    has none); `registered`: the registry's ids (their names link to their pages)."""
    t = UI[lang]
    tz = ZoneInfo(report.timezone)
    total = report.total
    spreads: Sequence[Spread] = [
        s
        for f in (total, *(d.figures for d in report.dwellings))
        for s in (f.first_response, f.taken_on)
    ]
    first, first_note = _response_chart(report, label, "first_response", lang)
    taken, taken_note = _response_chart(report, label, "taken_on", lang)
    down, down_note = _downtime_chart(report, label, lang)
    outcomes = _outcome_stack(total, lang)
    centre = _centre_stack(total, lang)
    tables = _tables(report, label, registered, lang)
    return ReportPage(
        month=str(report.month),
        title=month_name(report.month, lang),
        period=t["report_period"].format(
            start=_day(report.start, tz, lang), end=_day(report.end, tz, lang), tz=report.timezone
        ),
        running=""
        if report.complete
        else t["report_running"].format(when=date_time(report.made_at, report.timezone, lang)),
        empty=total.empty,
        csv=f"{CSV_PATH}?{urlencode({'month': str(report.month)})}",
        summary=_summary(total, lang),
        small_sample=any(s.small_sample for s in spreads),
        small_note=t["report_small_note"].format(n=MIN_SAMPLE),
        kinds=Chart("chart-kinds", t["report_kinds"], _kinds_chart(total, lang)),
        severities=Chart("chart-severities", t["report_severities"], _severity_chart(total, lang)),
        first=Chart("chart-first", t["report_first"], first, first_note),
        taken=Chart("chart-taken", t["report_taken"], taken, taken_note),
        downtime=Chart("chart-downtime", t["report_downtime_chart"], down, down_note),
        outcomes=StackChart(
            "chart-outcomes", t["report_outcome_chart"], outcomes, legend(outcomes, lang)
        ),
        centre=StackChart("chart-centre", t["report_centre"], centre, legend(centre, lang)),
        tables=tables[:-1],
        downtime_table=tables[-1],
    )
