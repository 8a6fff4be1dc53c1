"""Fall detector settings: the feature names, `FallParams` (thresholds and the trained
logistic model) and `load_params` (the one file the detector reads, at start-up)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

#: Names of the features computed at a candidate impact, in model order.
FEATURES: tuple[str, ...] = (
    "log_peak",  # ln of the peak |bin-mean a| within +-0.3 s of the impact, g
    "free_fall",  # min |bin-mean a| in the 1 s before the impact, g (falls: < 0.6 g)
    "angle_end",  # angle between pre-impact gravity and the settled posture, rad
    "log_quiet",  # ln of the quietest 1 s (RMS deviation) after the impact, g
    "log_energy",  # ln mean (|a| - 1)^2 over +-0.5 s around the impact, g^2
    "velocity",  # most negative integral of (|a| - 1 g) in the 1.5 s before impact, m/s
    "turn_before",  # share of the posture change done > 0.75 s before the impact
    "turn_after",  # share of the posture change still to come 0.75 s after the impact
    "turn_rate",  # fastest trunk turn around the impact, rad/s (over `TURN_RATE_S`)
)

#: `turn_rate`: the largest angle between bin-mean vectors this far apart (s), over the
#: windows that overlap [impact - 1.5 s, impact + 1.0 s], per second. Falls turn the trunk
#: fast, even soft ones (the direction of a softened sample is intact); deliberate lying
#: down turns slowly.
TURN_RATE_S = 0.5
TURN_SPAN_S = (1.5, 1.0)


@dataclass(frozen=True, slots=True)
class FallParams:
    """Detector settings and the trained logistic model (see `mz train fall`)."""

    trigger_g: float = 1.6  # raw |a| that opens a candidate; falls (even at 20 Hz) exceed 2 g
    # impact_suspected: a peak of at least suspect_g followed, suspect_after_s later, by a
    # posture at least suspect_angle_deg away from the pre-impact one (an early, cheap
    # heads-up; jogging steps have the peak but not the posture change).
    suspect_g: float = 2.0
    suspect_after_s: float = 1.5
    suspect_angle_deg: float = 40.0
    peak_search_s: float = 1.0  # the impact is the largest |a| this long after the trigger
    pre_s: float = 4.0  # seconds of history used before the impact
    post_s: float = 5.0  # seconds observed after the impact before deciding
    min_post_s: float = 0.5  # data needed after impact + 1 s to decide at all
    bin_s: float = 0.05  # internal resampling step (20 Hz: the slowest supported input)
    recover_angle_deg: float = 35.0  # back within this angle of the pre-fall posture ...
    recover_s: float = 3.0  # ... for this long counts as "got up"
    history_s: float = 12.0  # raw samples kept (>= pre_s + post_s + peak_search_s)
    # Physical gate before the model: a fall ends in a changed posture (>= 40 deg from
    # the pre-impact gravity, or >= 23 deg after a hard impact, e.g. backwards into a
    # half-sitting position) and has a quiet second after it (people who fell lie still
    # for a moment even if they move; walking and jogging never are that quiet).
    gate_angle_deg: float = 40.0
    gate_angle_impact_deg: float = 23.0
    gate_impact_g: float = 2.5  # smoothed peak for the lower angle
    gate_quiet_g: float = 0.25
    feature_mean: tuple[float, ...] = (0.0,) * len(FEATURES)
    feature_scale: tuple[float, ...] = (1.0,) * len(FEATURES)
    # Standardised features are clipped to +-feature_clip before the linear model (0: no
    # clipping), so that no single feature far outside the training range (a new device,
    # a new kind of movement) can decide alone. Set by training.
    feature_clip: float = 0.0
    weights: tuple[float, ...] = (0.0,) * len(FEATURES)
    bias: float = -10.0  # untrained default: never confirms
    threshold: float = 0.5  # probability above which a candidate is a fall
    # Below slow_rate_hz (BLE wearables at ~20 Hz) the impact is smeared over fewer
    # samples and falls score lower; a lower threshold there (set by training).
    threshold_slow: float = 0.5
    slow_rate_hz: float = 50.0
    # Per-wearer upright reference ("lying-to-lying" rule). The detector learns the
    # gravity direction of this wearer while walking (fixed `upright_block_s` blocks with
    # step-like |a| variation around a steady direction, `upright_min_blocks` of them).
    # A candidate whose pre-impact posture is already `lying_angle_deg` or more away from
    # it (the person was lying: rolling over in bed) is not a fall, unless the impact or
    # the descent is fall-like (out of bed onto the floor): smoothed peak >=
    # `lying_keep_g` or velocity <= -`lying_keep_v`. No reference yet: no effect.
    upright_block_s: float = 2.0  # 0 disables the rule
    upright_min_blocks: float = 3.0
    upright_alpha: float = 0.2  # weight of a new walking block (re-mounting is re-learnt)
    lying_angle_deg: float = 60.0
    lying_keep_g: float = 3.0
    lying_keep_v: float = 1.5
    # Fall and up again at once (the "got up" path). The gate above wants a changed
    # posture at the end of the post-window, which a person who is up within a few
    # seconds cannot meet. Such a candidate is still a fall when the body was horizontal
    # right after the impact (a `getup_hold_s` mean >= `getup_angle_deg` from the
    # pre-impact gravity, starting within `getup_within_s`) after a real fall: smoothed
    # peak >= `gate_impact_g`, free fall <= `getup_free_fall_g`, descent velocity <=
    # -`getup_velocity`, and a quiet second (`gate_quiet_g`). It is confirmed (and the
    # recovery watch then reports `fall_cancelled`: the alarm policy cancels, the event
    # stays). Hand-set from the physics; `getup_angle_deg = 0` disables it.
    getup_angle_deg: float = 60.0
    getup_hold_s: float = 0.75
    getup_within_s: float = 1.25
    getup_free_fall_g: float = 0.6
    getup_velocity: float = 1.2
    # A decision on part of the post-window: the stream stopped (a silent wearable, the
    # end of a recording) more than `partial_missing_s` before impact + post_s. The
    # posture and stillness after the impact are then seen only in part, so the model
    # must clear its threshold by `partial_margin_logit` (odds x e at 1.0). Hand-set;
    # 0 decides partial windows like full ones.
    partial_margin_logit: float = 1.0
    partial_missing_s: float = 0.5
    # ... and such a window is decided only after this much silence past its end (a BLE
    # stall or a late frame is not a silent wearable: its samples come and the window is
    # decided on them).
    partial_wait_s: float = 3.0

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FallParams:
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in data.items():
            if k not in known:
                continue  # tolerate extra documentation keys in the params file
            kw[k] = tuple(float(x) for x in v) if isinstance(v, list) else float(v)
        p = cls(**kw)
        n = len(FEATURES)
        if not (len(p.feature_mean) == len(p.feature_scale) == len(p.weights) == n):
            raise ValueError(f"fall params: expected {n} feature weights")
        return p


PARAMS_FILE = "fall_params.json"
G = 9.80665  # m/s^2 per g


@lru_cache(maxsize=1)
def load_params(path: str | None = None) -> FallParams:
    """Read the params shipped with the package (or `path`); the only I/O in this module."""
    if path is None:
        text = resources.files("edge.detectors").joinpath(PARAMS_FILE).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return FallParams.from_json(data.get("params", data))
