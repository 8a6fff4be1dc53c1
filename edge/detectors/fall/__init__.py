"""Streaming fall detector for a body-worn 3-axis accelerometer (pure NumPy).

Fed chunks of acceleration in g with per-sample timestamps in seconds, as the BLE driver
delivers them, it emits `FallEvent`s:

* ``impact_suspected`` - a peak followed by a clear posture change (early heads-up),
* ``fall_confirmed``   - the peak, the free fall before it, the orientation change and the
  stillness after it look like a fall (a small logistic model decides, see `FallParams`),
* ``fall_cancelled``   - after a confirmed fall the wearer is back in the pre-fall
  orientation for `recover_s` seconds (the person got up).

How it works (why this shape):

1. Every chunk is cleaned (non-finite rows and non-increasing timestamps are dropped) and
   appended to a buffer of the last `history_s` seconds of raw samples. The only
   per-sample work is |a|^2 and a max, so the cost stays near 1 us/sample in 50-sample
   chunks; a chunk starting over a minute in the past means the wearable's clock
   restarted, and the detector starts afresh.
2. A sample with |a| >= `trigger_g` opens a *candidate*; the largest |a| in the next
   `peak_search_s` seconds is its impact. Several candidates may be pending at once, so a
   step just before a real impact does not mask it.
3. When time (samples or `advance`) reaches impact + `post_s`, the window
   [impact - `pre_s`, impact + `post_s`] is resampled to fixed `bin_s` bins (bin means of
   the vector: a 20 Hz-like signal whatever the input rate, gaps filled by interpolation)
   and a handful of orientation-free features is computed (`FEATURES`). No fixed axis is
   assumed: orientation is measured as the angle between mean gravity vectors. A loose
   physical gate (changed posture, a quiet second) comes first, then the logistic model
   decides; below `slow_rate_hz` its threshold is lower (impacts are smeared at 20 Hz).
   Standardised features are clipped (`feature_clip`) so that no single feature far out
   of its training range decides alone. A person who is up again before the window ends
   fails the gate (changed posture at the end); the "got-up" path still confirms such a
   candidate when the fall itself is plain (horizontal right after a hard impact with a
   free fall and a descent), and the recovery watch then reports `fall_cancelled`.
   A confirmed fall is one incident until the wearer is up again.
4. If the wearable falls silent, `advance(t)` decides with the data there is: the window
   is cut at the last sample; with less than `min_post_s` of settled data after the
   impact nothing is confirmed (no invented stillness: a stream that stops mid-stride
   must not read as a person lying still). A window cut short this way shows the
   aftermath only in part, so the model must clear its threshold by a margin
   (`partial_margin_logit`).
5. Timestamps that are BLE arrival times: after a link stall the buffered samples arrive
   in a burst; a window with a stall is re-timed first (`retime_bursts`).
6. Per wearer, the gravity direction while walking is learnt (fixed 2 s blocks, cheap
   sums). Once known, a candidate whose pre-impact posture was already far from it (the
   person was lying: rolling over in bed) is not confirmed unless its impact or descent
   is fall-like (out of bed). Without a walk seen, this rule does nothing.

No I/O (except `load_params`, called once at start-up), no clock reads, deterministic.

The package: `params` (settings, feature names, `load_params`), `events` (`FallEvent`),
`features` (what is measured at a candidate impact, and the model's score), `detector`
(the streaming `FallDetector`), `recovery` (the watch for getting up after a fall),
`alarm` (the edge alarm policy: cancel window, long lie, silence after an impact).
Training and evaluation live in the top-level `evaluation` package (not needed on the
edge).
"""

from __future__ import annotations

from edge.detectors.fall.detector import CLOCK_RESET_S, WALK_SD, FallDetector
from edge.detectors.fall.events import FallEvent, FallEventKind
from edge.detectors.fall.features import (
    BURST_FRACTION,
    STALL_INTERVALS,
    STALL_S,
    CandidateFeatures,
    candidate_features,
    retime_bursts,
    score_features,
)
from edge.detectors.fall.params import (
    FEATURES,
    PARAMS_FILE,
    TURN_RATE_S,
    TURN_SPAN_S,
    FallParams,
    G,
    load_params,
)
from edge.detectors.fall.recovery import RECOVER_BLOCK_S, RecoveryWatch

__all__ = [
    "BURST_FRACTION",
    "CLOCK_RESET_S",
    "FEATURES",
    "PARAMS_FILE",
    "RECOVER_BLOCK_S",
    "STALL_INTERVALS",
    "STALL_S",
    "TURN_RATE_S",
    "TURN_SPAN_S",
    "WALK_SD",
    "CandidateFeatures",
    "FallDetector",
    "FallEvent",
    "FallEventKind",
    "FallParams",
    "G",
    "RecoveryWatch",
    "candidate_features",
    "load_params",
    "retime_bursts",
    "score_features",
]
