"""Score a CSV of observation sets with NEWS2 (`mz eval news2 CASES.csv`).

Columns: `rr, spo2, scale, o2, sbp, hr, acvpu, temp`; scale 1 or 2 (blank: 1), o2
yes/no (blank: unknown), acvpu one of A C V P U, blanks for missing. A bad row gives a
per-row error and the other rows are still scored.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from edge.detectors.news2 import Acvpu, News2Score, SpO2Scale, VitalSigns, score

COLUMNS: Final = ("rr", "spo2", "scale", "o2", "sbp", "hr", "acvpu", "temp")
_YES: Final = {"yes", "y", "true", "1", "o2", "oxygen"}
_NO: Final = {"no", "n", "false", "0", "air"}


class RowError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RowResult:
    row: int  # 1-based data row number (the header is row 0)
    result: News2Score | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.result is None:
            return {"row": self.row, "error": self.error}
        r = self.result
        return {
            "row": self.row,
            "score": r.score,
            "band": r.band.value,
            "red_flag": r.red_flag,
            "partial": r.partial,
            "missing": [p.value for p in r.missing],
            "subscores": {p.value: s for p, s in r.subscores},
            "invalid": [
                {"param": i.param.value, "reason": i.reason, "value": i.value} for i in r.invalid
            ],
        }


def _num(row: dict[str, str | None], key: str) -> float | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw.replace(",", "."))
    except ValueError as exc:
        raise RowError(f"{key}: not a number: {raw!r}") from exc
    if math.isnan(value):
        return value  # scored as invalid ("nan"), reported, never as 0
    return value


def parse_row(row: dict[str, str | None]) -> tuple[VitalSigns, SpO2Scale]:
    scale_raw = (row.get("scale") or "").strip()
    if scale_raw in ("", "1"):
        scale = SpO2Scale.SCALE_1
    elif scale_raw == "2":
        scale = SpO2Scale.SCALE_2
    else:
        raise RowError(f"scale: must be 1 or 2, got {scale_raw!r}")
    o2_raw = (row.get("o2") or "").strip().lower()
    o2: bool | None
    if not o2_raw:
        o2 = None
    elif o2_raw in _YES:
        o2 = True
    elif o2_raw in _NO:
        o2 = False
    else:
        raise RowError(f"o2: must be yes or no, got {o2_raw!r}")
    acvpu_raw = (row.get("acvpu") or "").strip().upper()
    acvpu: Acvpu | None
    if not acvpu_raw:
        acvpu = None
    else:
        try:
            acvpu = Acvpu(acvpu_raw)
        except ValueError as exc:
            raise RowError(f"acvpu: must be one of A C V P U, got {acvpu_raw!r}") from exc
    vitals = VitalSigns(
        rr=_num(row, "rr"),
        spo2=_num(row, "spo2"),
        o2=o2,
        sbp=_num(row, "sbp"),
        hr=_num(row, "hr"),
        acvpu=acvpu,
        temp=_num(row, "temp"),
    )
    return vitals, scale


def score_csv(text: str) -> list[RowResult]:
    """Score every data row of a CSV text, in input order."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    header = [h.strip().lower() for h in reader.fieldnames]
    unknown_missing = [c for c in COLUMNS if c not in header]
    reader.fieldnames = header
    out: list[RowResult] = []
    for i, row in enumerate(reader, start=1):
        if None in row:  # more cells than header columns
            out.append(RowResult(i, None, "too many cells"))
            continue
        try:
            vitals, scale = parse_row(row)
        except RowError as exc:
            out.append(RowResult(i, None, str(exc)))
            continue
        out.append(RowResult(i, score(vitals, scale)))
    if unknown_missing and not out:
        return [RowResult(0, None, f"missing columns: {', '.join(unknown_missing)}")]
    return out


def format_table(results: Iterable[RowResult]) -> str:
    lines = ["row  score band        red  partial  missing            sub-scores"]
    for r in results:
        if r.result is None:
            lines.append(f"{r.row:<4} ERROR {r.error}")
            continue
        s = r.result
        subs = " ".join(f"{p.value}={v}" for p, v in s.subscores)
        missing = ",".join(p.value for p in s.missing) or "-"
        lines.append(
            f"{r.row:<4} {s.score:<5} {s.band.value:<11} {'yes' if s.red_flag else 'no':<4} "
            f"{'yes' if s.partial else 'no':<8} {missing:<18} {subs}"
        )
    return "\n".join(lines)
