"""Reading the report page's figures (hub.console.reports) back as numbers, to compare
with tests/report_seed.EXPECTED: for the httpx test and the browser test alike.

The page names each figure (hub.console.report_view): the total's in the summary as
`id="total-<name>"`, each dwelling's in the tables as `class="f-<name>"` in the rows
`data-dwelling="<id>"` (the total row `data-dwelling="total"`). The text is read as a
person reads it — "1 min 51 s", "29,5 u", "38%", "50 s*" — not from hidden attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

# What EXPECTED's keys are called on the page, and how their text reads.
SCALARS: Final = {
    "alarms": ("alarms", "count"),
    "care_alarms": ("care", "count"),
    "no_response": ("noresp", "count"),
    "to_centre": ("centre", "count"),
    "to_centre_direct": ("centre-direct", "count"),
    "to_centre_escalated": ("centre-escalated", "count"),
    "to_centre_share": ("centre-share", "share"),
    "with_outcome": ("with-outcome", "count"),
    "false_alarm_share": ("false-share", "share"),
    "without_outcome": ("without-outcome", "count"),
    "cancelled_at_edge": ("cancelled", "count"),
    "still_open": ("open", "count"),
    "downtime_h": ("downtime", "hours"),
    "outages": ("outages", "count"),
}
PER_KEY: Final = {"by_kind": "kind", "by_severity": "sev", "outcomes": "out"}
SPREADS: Final = {"first_response": "first", "taken_on": "taken"}
# The summary shows these of the total (the tables show every figure).
SUMMARY: Final = frozenset(
    {
        "alarms",
        "care",
        "kind-technical",
        "first-p50",
        "first-p90",
        "noresp",
        "taken-p50",
        "taken-p90",
        "centre",
        "centre-share",
        "centre-direct",
        "centre-escalated",
        "false-share",
        "out-false_alarm",
        "with-outcome",
        "downtime",
        "outages",
    }
)
NONE: Final = "–"
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*(min|u|h|s)\b")
_UNIT_S: Final = {"s": 1.0, "min": 60.0, "u": 3600.0, "h": 3600.0}


def expected_figures(expected: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(figure name, how it reads, expected value) for each key of an EXPECTED entry;
    a spread's `small_sample` becomes ("first-p90", "star", True): an asterisk."""
    for key, value in expected.items():
        if key in SCALARS:
            name, kind = SCALARS[key]
            yield name, kind, value
        elif key in PER_KEY:
            for sub, n in value.items():
                yield f"{PER_KEY[key]}-{sub}", "count", n
        elif key in SPREADS:
            prefix = SPREADS[key]
            yield f"{prefix}-n", "count", value["n"]
            yield f"{prefix}-p50", "seconds", value["p50_s"]
            yield f"{prefix}-p90", "seconds", value["p90_s"]
            if value["p50_s"] is not None:
                yield f"{prefix}-p50", "star", value["small_sample"]
                yield f"{prefix}-p90", "star", value["small_sample"]
        else:
            raise KeyError(f"no figure on the page for {key!r}")


def read(text: str, kind: str) -> Any:
    """A figure's text as a number (None for "–"), or for "star" whether it is marked."""
    text = text.strip()
    if kind == "star":
        return text.endswith("*")
    text = text.rstrip("*").strip()
    if text == NONE:
        return None
    if kind == "count":
        return int(text)
    if kind == "share":
        assert text.endswith("%"), text
        return int(text[:-1]) / 100
    if kind == "hours":
        found = re.fullmatch(r"(\d+(?:[.,]\d+)?) (u|h)", text)
        assert found, text
        return float(found.group(1).replace(",", "."))
    assert kind == "seconds", kind
    parts = _PART.findall(text)
    assert parts and not _PART.sub("", text).strip(), f"not a duration: {text!r}"
    return sum(float(n.replace(",", ".")) * _UNIT_S[u] for n, u in parts)


def matches(kind: str, got: Any, want: Any) -> bool:
    if want is None or got is None or kind in ("count", "star"):
        return bool(got == want)
    # Shares are shown as whole percentages, times to a tenth of a second.
    tolerance = {"share": 0.005, "seconds": 0.05, "hours": 0.005}[kind]
    return bool(abs(got - want) <= tolerance + 1e-9)


def mismatches(
    text_of: Callable[[str], str | None],
    expected: Mapping[str, Any],
    only: frozenset[str] = frozenset(),
) -> list[str]:
    """Every figure of `expected` whose text (`text_of(name)`; None: not on the page)
    does not read as expected; with `only`, just those names."""
    out = []
    for name, kind, want in expected_figures(expected):
        if only and name not in only:
            continue
        text = text_of(name)
        if text is None:
            out.append(f"{name}: not on the page")
            continue
        got = read(text, kind)
        if not matches(kind, got, want):
            out.append(f"{name} ({kind}): the page says {text!r}, expected {want!r}")
    return out
