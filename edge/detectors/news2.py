"""NEWS2 (National Early Warning Score 2), Royal College of Physicians, December 2017.

Pure scoring of one set of vital signs against the NEWS2 chart ("Chart 1: The NEWS
scoring system", RCP 2017). Readings that are missing are never scored as 0: the score
is then *partial* (a lower bound) and says which parameters are missing. Readings that
are invalid (NaN, outside a physiologically possible range) are excluded, flagged and
treated as missing. Staleness and device status bits are the vitals pipeline's job
(`edge.detectors.vitals`), which knows the time and the device.

The chart is defined on whole numbers for respiration rate, SpO2, systolic BP and pulse
and on one decimal for temperature, so readings are rounded half-up to that resolution
before they are looked up (a thermometer reading 38.04 is 38.0 on the chart).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

logger = logging.getLogger(__name__)


class Param(StrEnum):
    """The seven NEWS2 chart rows, in chart order."""

    RR = "rr"  # respiration rate, breaths/min
    SPO2 = "spo2"  # oxygen saturation, %
    O2 = "o2"  # air or supplemental oxygen
    SBP = "sbp"  # systolic blood pressure, mmHg
    HR = "hr"  # pulse, beats/min
    ACVPU = "acvpu"  # consciousness
    TEMP = "temp"  # temperature, degrees C


PARAMS: Final[tuple[Param, ...]] = tuple(Param)


class Acvpu(StrEnum):
    """Consciousness: Alert, new Confusion, responds to Voice, to Pain, Unresponsive."""

    A = "A"
    C = "C"
    V = "V"
    P = "P"
    U = "U"


class Band(StrEnum):
    """RCP 2017 "Chart 2: NEWS thresholds and triggers" clinical risk / response."""

    ZERO = "zero"  # aggregate 0: minimum 12-hourly monitoring
    LOW = "low"  # aggregate 1-4: ward-based response
    LOW_MEDIUM = "low_medium"  # a 3 in any single parameter: urgent ward-based response
    MEDIUM = "medium"  # aggregate 5-6: key threshold for urgent response
    HIGH = "high"  # aggregate >= 7: urgent or emergency response


BAND_ORDER: Final[dict[Band, int]] = {b: i for i, b in enumerate(Band)}


class SpO2Scale(StrEnum):
    """Scale 1 by default; scale 2 only for confirmed hypercapnic respiratory failure
    (target range 88-92 %), prescribed by a clinician and set per resident."""

    SCALE_1 = "1"
    SCALE_2 = "2"


# Physiologically possible ranges: outside them a reading is a device or entry error,
# not a very sick resident, and is excluded (and flagged) rather than scored.
VALID_RANGE: Final[dict[Param, tuple[float, float]]] = {
    Param.RR: (2.0, 80.0),
    Param.SPO2: (50.0, 100.0),
    Param.SBP: (40.0, 300.0),
    Param.HR: (20.0, 250.0),
    Param.TEMP: (25.0, 45.0),
}


@dataclass(frozen=True, slots=True)
class VitalSigns:
    """One observation set. None = not measured (usual at home for rr and acvpu)."""

    rr: float | None = None
    spo2: float | None = None
    o2: bool | None = None  # True = on supplemental oxygen, False = on air
    sbp: float | None = None
    hr: float | None = None
    acvpu: Acvpu | None = None
    temp: float | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    param: Param
    reason: str  # "nan", "out_of_range", or a reason given by the pipeline
    value: float | None = None


@dataclass(frozen=True, slots=True)
class News2Score:
    score: int  # aggregate of the parameters that were scored (a lower bound if partial)
    band: Band
    red_flag: bool  # a score of 3 in a single parameter
    subscores: tuple[tuple[Param, int], ...]  # chart order, scored parameters only
    missing: tuple[Param, ...]  # chart order; includes invalid ones
    invalid: tuple[Invalid, ...] = ()
    # The measured values that were scored, chart order (O2: 1.0 on oxygen, 0.0 on air;
    # ACVPU is not a number and not here): what a clinician reads beside the points.
    measured: tuple[tuple[Param, float], ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def subscore(self, param: Param) -> int | None:
        return dict(self.subscores).get(param)


def _round(value: float, places: int) -> float:
    """Half-up rounding to the chart's resolution (Python's round() is half-even)."""
    q = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(q, rounding=ROUND_HALF_UP))


def score_rr(rr: float) -> int:
    # Chart row "Respiration rate (per minute)": <=8: 3, 9-11: 1, 12-20: 0, 21-24: 2, >=25: 3
    v = _round(rr, 0)
    if v <= 8:
        return 3
    if v <= 11:
        return 1
    if v <= 20:
        return 0
    if v <= 24:
        return 2
    return 3


def score_spo2(spo2: float, scale: SpO2Scale, on_oxygen: bool | None) -> int | None:
    """SpO2 sub-score; None when scale 2 needs to know air/oxygen and it is unknown."""
    v = _round(spo2, 0)
    if scale is SpO2Scale.SCALE_1:
        # Chart row "SpO2 Scale 1 (%)": <=91: 3, 92-93: 2, 94-95: 1, >=96: 0
        if v <= 91:
            return 3
        if v <= 93:
            return 2
        if v <= 95:
            return 1
        return 0
    # Chart row "SpO2 Scale 2 (%)": <=83: 3, 84-85: 2, 86-87: 1, 88-92 and >=93 on air: 0,
    # 93-94 on oxygen: 1, 95-96 on oxygen: 2, >=97 on oxygen: 3 (over-oxygenation is
    # a risk for a patient with hypercapnic respiratory failure).
    if v <= 83:
        return 3
    if v <= 85:
        return 2
    if v <= 87:
        return 1
    if v <= 92:
        return 0
    if on_oxygen is None:
        return None
    if not on_oxygen:
        return 0
    if v <= 94:
        return 1
    if v <= 96:
        return 2
    return 3


def score_o2(on_oxygen: bool) -> int:
    # Chart row "Air or oxygen?": air 0, oxygen 2
    return 2 if on_oxygen else 0


def score_sbp(sbp: float) -> int:
    # Chart row "Systolic blood pressure (mmHg)": <=90: 3, 91-100: 2, 101-110: 1,
    # 111-219: 0, >=220: 3
    v = _round(sbp, 0)
    if v <= 90:
        return 3
    if v <= 100:
        return 2
    if v <= 110:
        return 1
    if v <= 219:
        return 0
    return 3


def score_hr(hr: float) -> int:
    # Chart row "Pulse (per minute)": <=40: 3, 41-50: 1, 51-90: 0, 91-110: 1,
    # 111-130: 2, >=131: 3
    v = _round(hr, 0)
    if v <= 40:
        return 3
    if v <= 50:
        return 1
    if v <= 90:
        return 0
    if v <= 110:
        return 1
    if v <= 130:
        return 2
    return 3


def score_acvpu(level: Acvpu) -> int:
    # Chart row "Consciousness": Alert 0; CVPU 3 (new-onset confusion counts as 3)
    return 0 if level is Acvpu.A else 3


def score_temp(temp: float) -> int:
    # Chart row "Temperature (C)": <=35.0: 3, 35.1-36.0: 1, 36.1-38.0: 0,
    # 38.1-39.0: 1, >=39.1: 2
    v = _round(temp, 1)
    if v <= 35.0:
        return 3
    if v <= 36.0:
        return 1
    if v <= 38.0:
        return 0
    if v <= 39.0:
        return 1
    return 2


def band_for(score: int, red_flag: bool) -> Band:
    """Chart 2: >=7 high, 5-6 medium, a single 3 low-medium, 1-4 low, 0 zero."""
    if score >= 7:
        return Band.HIGH
    if score >= 5:
        return Band.MEDIUM
    if red_flag:
        return Band.LOW_MEDIUM
    if score >= 1:
        return Band.LOW
    return Band.ZERO


def check_value(param: Param, value: float | None) -> tuple[float | None, Invalid | None]:
    """Screen one numeric reading: (usable value or None, why it was rejected or None)."""
    if value is None:
        return None, None
    if not math.isfinite(value):
        return None, Invalid(param, "nan", None)
    lo, hi = VALID_RANGE[param]
    if not lo <= value <= hi:
        return None, Invalid(param, "out_of_range", value)
    return value, None


def score(
    vitals: VitalSigns,
    scale: SpO2Scale = SpO2Scale.SCALE_1,
    extra_invalid: tuple[Invalid, ...] = (),
) -> News2Score:
    """Score one observation set on the NEWS2 chart.

    `extra_invalid` carries readings the caller already rejected (stale, device status)
    so that the result lists every reason a parameter is absent.
    """
    invalid: list[Invalid] = list(extra_invalid)
    values: dict[Param, float | None] = {}
    for param, raw in (
        (Param.RR, vitals.rr),
        (Param.SPO2, vitals.spo2),
        (Param.SBP, vitals.sbp),
        (Param.HR, vitals.hr),
        (Param.TEMP, vitals.temp),
    ):
        value, bad = check_value(param, raw)
        values[param] = value
        if bad is not None:
            invalid.append(bad)

    subs: dict[Param, int] = {}
    rr, spo2, sbp, hr, temp = (
        values[p] for p in (Param.RR, Param.SPO2, Param.SBP, Param.HR, Param.TEMP)
    )
    if rr is not None:
        subs[Param.RR] = score_rr(rr)
    if spo2 is not None:
        s = score_spo2(spo2, scale, vitals.o2)
        if s is None:
            # Scale 2 above 92 % cannot be scored without knowing air or oxygen.
            invalid.append(Invalid(Param.SPO2, "o2_unknown_on_scale_2", spo2))
        else:
            subs[Param.SPO2] = s
    if vitals.o2 is not None:
        subs[Param.O2] = score_o2(vitals.o2)
    if sbp is not None:
        subs[Param.SBP] = score_sbp(sbp)
    if hr is not None:
        subs[Param.HR] = score_hr(hr)
    if vitals.acvpu is not None:
        subs[Param.ACVPU] = score_acvpu(vitals.acvpu)
    if temp is not None:
        subs[Param.TEMP] = score_temp(temp)

    total = sum(subs.values())
    # "A score of 3 in any single parameter" is a red score; supplemental oxygen scores
    # only 2 and so is never a red score on its own.
    red = any(v == 3 for v in subs.values())
    missing = tuple(p for p in PARAMS if p not in subs)
    return News2Score(
        score=total,
        band=band_for(total, red),
        red_flag=red,
        subscores=tuple((p, subs[p]) for p in PARAMS if p in subs),
        missing=missing,
        invalid=tuple(invalid),
        measured=tuple((p, m) for p in PARAMS if (m := _measured(p, values, vitals)) is not None),
    )


def _measured(p: Param, values: dict[Param, float | None], vitals: VitalSigns) -> float | None:
    if p is Param.O2:
        return None if vitals.o2 is None else float(vitals.o2)
    return values.get(p)
