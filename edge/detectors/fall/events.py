"""What the fall detector emits (`FallEvent`) and what kinds there are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class FallEventKind(StrEnum):
    IMPACT_SUSPECTED = "impact_suspected"
    FALL_CONFIRMED = "fall_confirmed"
    FALL_CANCELLED = "fall_cancelled"
    # A suspected impact settled as no fall (its aftermath seen: a full window the model
    # turned down, or the wearer upright when a silent wearable came back).
    IMPACT_DISMISSED = "impact_dismissed"


@dataclass(frozen=True, slots=True)
class FallEvent:
    """One detector output. Times are in the same clock as the input timestamps (s)."""

    kind: FallEventKind
    time: float  # when the decision was made (latest sample or advance time), s
    impact_time: float  # time of the largest |a| of the candidate, s
    peak_g: float  # largest raw |a| of the candidate, g
    score: float = math.nan  # model probability (0-1); NaN for impact_suspected
    orientation_change_deg: float = math.nan  # pre- vs post-impact gravity angle, degrees
    stillness_g: float = math.nan  # RMS movement in the quietest second after impact, g
