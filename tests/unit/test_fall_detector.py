"""The streaming fall detector on synthetic signals: the edge cases a BLE wearable brings."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from edge.detectors.fall import (
    CandidateFeatures,
    FallDetector,
    FallEvent,
    FallEventKind,
    FallParams,
    candidate_features,
    load_params,
    retime_bursts,
)

Arr = npt.NDArray[np.float64]
UP = np.array([0.0, -1.0, 0.0])  # SisFall-like: standing reads (0, -1, 0) g
LYING = np.array([0.0, 0.0, 1.0])  # 90 degrees away


def synth(
    fs: float = 200.0,
    *,
    fall_at: float | None = 8.0,
    duration: float = 20.0,
    impact_g: float = 4.0,
    walk: bool = True,
    get_up_at: float | None = None,
    seed: int = 0,
    jitter: float = 0.0,
) -> tuple[Arr, Arr]:
    """Walking upright, then (optionally) a fall: 0.4 s of free fall, an impact, lying still.

    Gravity is along -y while upright and along +z when lying; 10 mg of sensor noise.
    """
    rng = np.random.default_rng(seed)
    n = int(duration * fs)
    t = np.arange(n) / fs
    if jitter:
        t = t + rng.uniform(-jitter, jitter, n) / fs
        t = np.sort(t)
    acc = np.tile(UP, (n, 1))
    if walk:
        acc[:, 1] += 0.25 * np.sin(2 * np.pi * 1.8 * t)
        acc[:, 0] += 0.1 * np.sin(2 * np.pi * 0.9 * t)
    if fall_at is not None:
        ff = (t >= fall_at - 0.4) & (t < fall_at)
        acc[ff] = UP * 0.2  # free fall: |a| drops to 0.2 g
        imp = (t >= fall_at) & (t < fall_at + 0.06)
        acc[imp] = LYING * impact_g + UP * 0.5
        down = t >= fall_at + 0.06
        if get_up_at is not None:
            down &= t < get_up_at
        acc[down] = LYING
        if get_up_at is not None:
            up = t >= get_up_at
            acc[up] = UP + 0.25 * np.outer(np.sin(2 * np.pi * 1.8 * t[up]), [0.0, 1.0, 0.0])
    acc = acc + rng.normal(0.0, 0.01, acc.shape)
    return t, acc


def stream(det: FallDetector, t: Arr, acc: Arr, chunk: int = 50) -> list[FallEvent]:
    out: list[FallEvent] = []
    for i in range(0, t.size, chunk):
        out += det.update(t[i : i + chunk], acc[i : i + chunk])
    return out


def kinds(events: list[FallEvent], kind: FallEventKind) -> list[FallEvent]:
    return [e for e in events if e.kind is kind]


def rotation(seed: int) -> Arr:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


@pytest.fixture(scope="module")
def params() -> FallParams:
    return load_params()


def test_shipped_params_are_trained(params: FallParams) -> None:
    assert any(w != 0.0 for w in params.weights)
    assert 0.0 < params.threshold < 1.0


@pytest.mark.parametrize("fs", [200.0, 100.0, 50.0, 25.0, 20.0])
def test_fall_is_confirmed_once_at_any_rate(params: FallParams, fs: float) -> None:
    t, a = synth(fs)
    ev = stream(FallDetector(params), t, a)
    conf = kinds(ev, FallEventKind.FALL_CONFIRMED)
    assert len(conf) == 1
    c = conf[0]
    assert abs(c.impact_time - 8.0) < 0.1
    # decided once post_s of data after the impact has arrived (chunk granularity)
    assert 8.0 + params.post_s <= c.time <= 8.0 + params.post_s + 50 / fs + 0.01
    assert c.peak_g > 3.0
    assert 80.0 < c.orientation_change_deg < 100.0
    assert kinds(ev, FallEventKind.IMPACT_SUSPECTED)


def test_walking_and_jogging_do_not_confirm(params: FallParams) -> None:
    t, a = synth(200.0, fall_at=None, duration=60.0)
    assert stream(FallDetector(params), t, a) == []
    # jogging: 2.5 g bounces every step; no fall, no alarm
    tj = np.arange(0, 60, 1 / 200.0)
    aj = np.tile(UP, (tj.size, 1))
    aj[:, 1] += -1.5 * np.maximum(0.0, np.sin(2 * np.pi * 2.7 * tj)) ** 4 + 0.3
    ev = stream(FallDetector(params), tj, aj)
    assert kinds(ev, FallEventKind.FALL_CONFIRMED) == []


def test_lying_down_slowly_is_not_a_fall(params: FallParams) -> None:
    fs = 50.0
    t = np.arange(0, 20, 1 / fs)
    # turn from upright to lying over 3 s, no free fall, no impact
    w = np.clip((t - 6.0) / 3.0, 0.0, 1.0)[:, None] * (math.pi / 2)
    a = np.cos(w) * UP + np.sin(w) * LYING
    a = a + np.random.default_rng(1).normal(0, 0.01, a.shape)
    assert stream(FallDetector(params), t, a) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_mounting_orientation(params: FallParams, seed: int) -> None:
    t, a = synth(100.0)
    ev = stream(FallDetector(params), t, a @ rotation(seed).T)
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1


def test_same_events_whatever_the_chunking(params: FallParams) -> None:
    t, a = synth(100.0, get_up_at=16.0, duration=25.0)
    ref = stream(FallDetector(params), t, a, chunk=50)
    conf = kinds(ref, FallEventKind.FALL_CONFIRMED)
    assert len(conf) == 1
    for chunk in (1, 7, 333, t.size):
        ev = stream(FallDetector(params), t, a, chunk=chunk)
        assert [(e.kind, round(e.impact_time, 6)) for e in ev] == [
            (e.kind, round(e.impact_time, 6)) for e in ref
        ]
        got = kinds(ev, FallEventKind.FALL_CONFIRMED)[0]
        assert got.score == pytest.approx(conf[0].score)


def test_getting_up_cancels(params: FallParams) -> None:
    t, a = synth(100.0, get_up_at=16.0, duration=25.0)
    ev = stream(FallDetector(params), t, a)
    assert [e.kind for e in ev if e.kind is not FallEventKind.IMPACT_SUSPECTED] == [
        FallEventKind.FALL_CONFIRMED,
        FallEventKind.FALL_CANCELLED,
    ]
    cancel = ev[-1]
    assert 16.0 + params.recover_s <= cancel.time <= 16.0 + params.recover_s + 0.6


def test_jitter_20hz(params: FallParams) -> None:
    t, a = synth(20.0, jitter=0.4, seed=5)
    assert len(kinds(stream(FallDetector(params), t, a), FallEventKind.FALL_CONFIRMED)) == 1


def test_gap_after_impact_is_bridged(params: FallParams) -> None:
    t, a = synth(20.0)
    keep = (t < 8.5) | (t > 10.0)  # 1.5 s of lost BLE frames right after the impact
    ev = stream(FallDetector(params), t[keep], a[keep])
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1


def test_nan_rows_are_dropped(params: FallParams) -> None:
    t, a = synth(50.0)
    a[::7] = np.nan
    a[3, 1] = np.inf
    t2 = t.copy()
    t2[11] = np.nan
    det = FallDetector(params)
    ev = stream(det, t2, a)
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1
    assert det.samples_dropped == len(range(0, t.size, 7)) + 2


def test_duplicate_and_out_of_order_timestamps(params: FallParams) -> None:
    t, a = synth(50.0)
    # every chunk re-sends its last 5 samples (a BLE retransmission) and a few go back
    det = FallDetector(params)
    out: list[FallEvent] = []
    for i in range(0, t.size, 40):
        lo = max(0, i - 5)
        out += det.update(t[lo : i + 40], a[lo : i + 40])
    tt = np.array([1.0, 1.0, 0.5, 2.0])
    assert det.update(tt, np.ones((4, 3))) == []
    assert len(kinds(out, FallEventKind.FALL_CONFIRMED)) == 1
    assert det.samples_dropped >= 5 * (t.size // 40 - 1)


def test_saturated_impact(params: FallParams) -> None:
    t, a = synth(200.0, impact_g=30.0)
    a = np.clip(a, -16.0, 16.0)  # the ADXL345 at +-16 g
    ev = stream(FallDetector(params), t, a)
    conf = kinds(ev, FallEventKind.FALL_CONFIRMED)
    assert len(conf) == 1
    assert conf[0].peak_g <= 16.0 * math.sqrt(3) + 1e-9


def test_silence_right_after_impact_decides_nothing(params: FallParams) -> None:
    t, a = synth(50.0)
    keep = t < 8.6  # the wearable dies 0.6 s after the impact
    det = FallDetector(params)
    ev = stream(det, t[keep], a[keep])
    ev += det.advance(30.0)
    assert kinds(ev, FallEventKind.FALL_CONFIRMED) == []
    assert det.advance(60.0) == []  # nothing left pending


def test_silence_after_lying_still_is_decided_by_advance(params: FallParams) -> None:
    t, a = synth(50.0)
    keep = t < 11.0  # 3 s of lying still, then the link drops
    det = FallDetector(params)
    ev = stream(det, t[keep], a[keep])
    assert kinds(ev, FallEventKind.FALL_CONFIRMED) == []  # not due yet
    assert det.advance(12.0) == []  # still not due (impact + post_s = 13 s)
    late = det.advance(100.0)
    conf = kinds(late, FallEventKind.FALL_CONFIRMED)
    assert len(conf) == 1
    assert conf[0].time == pytest.approx(8.0 + params.post_s, abs=0.05)


def test_bad_input_shapes() -> None:
    det = FallDetector()
    assert det.update(np.zeros(0), np.zeros((0, 3))) == []
    with pytest.raises(ValueError):
        det.update(np.zeros(3), np.zeros((2, 3)))


def test_features_are_rate_independent(params: FallParams) -> None:
    fa = []
    for fs in (200.0, 20.0):
        t, a = synth(fs, walk=False)
        cf = candidate_features(t, a, 8.0, params)
        assert cf is not None and cf.gate and cf.features is not None
        fa.append(cf.features)
    # angle and stillness agree closely; impact-shape features within a loose band
    assert fa[0][2] == pytest.approx(fa[1][2], abs=0.05)
    assert np.all(np.abs(fa[0] - fa[1]) < 1.5)


def test_long_stream_keeps_memory_bounded(params: FallParams) -> None:
    t, a = synth(200.0, fall_at=None, duration=120.0)
    det = FallDetector(params)
    stream(det, t, a)
    assert det._t.shape[0] <= 4096  # history_s of 200 Hz fits; no unbounded growth


def test_clock_reset_starts_afresh(params: FallParams) -> None:
    det = FallDetector(params)
    t, a = synth(50.0, fall_at=None, duration=200.0)
    stream(det, t, a)
    # the wearable rebooted: its clock starts at 0 again, and then someone falls
    t2, a2 = synth(50.0)
    ev = stream(det, t2, a2)
    assert det.clock_resets == 1
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1


# ------------------------------------------------------- BLE link stalls and bursts
def test_retime_bursts_restores_buffered_samples() -> None:
    t = np.arange(0.0, 10.0, 0.05)
    clean = t.copy()
    arr = t.copy()
    stall = (t >= 4.0) & (t < 6.0)  # link stalls 2 s; the device buffers 40 samples
    arr[stall] = 6.0 + 0.004 * np.arange(1, stall.sum() + 1)  # ... and sends them in a burst
    arr = np.maximum.accumulate(arr)
    arr[1:] = np.maximum(arr[1:], arr[:-1] + 1e-4)
    fixed = retime_bursts(arr)
    assert np.all(np.diff(fixed) > 0)
    # the burst's samples are back within a sample interval of their real times
    assert np.max(np.abs(fixed - clean)[t < 5.8]) < 0.06 + 0.17  # 0.17 s: burst length
    assert np.median(np.abs(fixed - clean)) < 1e-9
    lost = np.r_[t[t < 4.0], t[t >= 6.0]]  # lost samples: a gap stays a gap
    np.testing.assert_array_equal(retime_bursts(lost), lost)
    assert retime_bursts(t) is t  # nothing to do: no copy


def test_fall_inside_a_buffered_stall(params: FallParams) -> None:
    """The link stalls over the fall; the wearable's buffer arrives in a burst later."""
    t, a = synth(20.0, walk=False)
    arr = t.copy()
    stall = (t >= 7.0) & (t < 9.5)
    arr[stall] = 9.5 + 0.003 * np.arange(1, stall.sum() + 1)
    arr = np.maximum.accumulate(arr)
    arr[1:] = np.maximum(arr[1:], arr[:-1] + 1e-4)
    ev = stream(FallDetector(params), arr, a)
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1
    # the features are measured on the re-timed signal: like the clean one (taken at
    # face value, the burst squeezes the impact to 1.35 g and the descent to -0.4 m/s)
    ref = candidate_features(t, a, 8.0, params)
    got: list[CandidateFeatures] = []
    det = FallDetector(params, feature_sink=lambda cf, tp, pk: got.append(cf))
    stream(det, arr, a)
    assert ref is not None and ref.features is not None
    assert len(got) == 1 and got[0].features is not None
    f = got[0].features
    assert abs(f[0] - ref.features[0]) < 0.05  # log peak
    assert f[5] < -2.5  # velocity: the descent is there again (clean: -3.6 m/s)


# ------------------------------------------- per-wearer upright, lying-to-lying rule
def lying_then_roll(fs: float, walk_s: float, bump_g: float, seed: int = 0) -> tuple[Arr, Arr]:
    """Walk `walk_s` s upright, lie down on the back (gravity along +z), lie still, then
    roll onto the side (gravity along +x) with a bump of `bump_g`, and lie still."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, walk_s + 40.0, 1.0 / fs)
    a = np.tile(UP, (t.size, 1))
    walking = t < walk_s
    a[walking, 1] += 0.25 * np.sin(2 * np.pi * 1.8 * t[walking])
    a[walking, 0] += 0.1 * np.sin(2 * np.pi * 0.9 * t[walking])
    lie = t >= walk_s + 5.0  # lay down (slowly: no candidate) 5 s after the walk
    w = np.clip((t - walk_s - 2.0) / 3.0, 0.0, 1.0)[:, None] * (math.pi / 2)
    a[~walking] = (np.cos(w) * UP + np.sin(w) * LYING)[~walking]
    roll = walk_s + 25.0
    w2 = np.clip((t - roll + 0.6) / 0.6, 0.0, 1.0)[:, None] * (math.pi / 2)
    side = np.array([1.0, 0.0, 0.0])
    a[lie] = (np.cos(w2) * LYING + np.sin(w2) * side)[lie]
    bump = (t >= roll) & (t < roll + 0.1)
    a[bump] = side * bump_g
    return t, a + rng.normal(0.0, 0.01, a.shape)


def test_upright_is_learnt_while_walking(params: FallParams) -> None:
    t, a = synth(50.0, fall_at=None, duration=30.0)
    det = FallDetector(params)
    stream(det, t, a @ rotation(4).T)
    up = det.upright
    assert up is not None
    assert _angle(np.array(up), UP @ rotation(4).T) < math.radians(10.0)
    # lying still or sitting teaches nothing
    det2 = FallDetector(params)
    stream(det2, t, np.tile(LYING, (t.size, 1)) + np.random.default_rng(0).normal(0, 0.01, a.shape))
    assert det2.upright is None
    # chunking does not matter
    det3 = FallDetector(params)
    stream(det3, t, a @ rotation(4).T, chunk=7)
    assert det3.upright == pytest.approx(up)


def _angle(u: Arr, v: Arr) -> float:
    return math.acos(float(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))


@pytest.mark.parametrize("fs", [200.0, 20.0])
def test_rolling_over_in_bed_is_not_a_fall_once_upright_is_known(
    params: FallParams, fs: float
) -> None:
    # A model that would confirm anything that passes the gate: only the rule can stop it.
    eager = replace(params, threshold=1e-9, threshold_slow=1e-9)
    t, a = lying_then_roll(fs, walk_s=20.0, bump_g=2.2)
    det = FallDetector(eager)
    assert kinds(stream(det, t, a), FallEventKind.FALL_CONFIRMED) == []
    assert det.lying_vetoes == 1
    # without a walk first (no upright reference) the rule cannot act
    keep = t >= 20.0
    cold = FallDetector(eager)
    assert len(kinds(stream(cold, t[keep], a[keep]), FallEventKind.FALL_CONFIRMED)) == 1
    assert cold.lying_vetoes == 0


def test_hard_fall_from_lying_still_counts(params: FallParams) -> None:
    """Out of bed onto the floor: a hard impact overrides the lying-to-lying rule."""
    eager = replace(params, threshold=1e-9, threshold_slow=1e-9)
    t, a = lying_then_roll(50.0, walk_s=20.0, bump_g=5.0)
    det = FallDetector(eager)
    assert len(kinds(stream(det, t, a), FallEventKind.FALL_CONFIRMED)) == 1
    assert det.lying_vetoes == 0


def test_rule_can_be_disabled(params: FallParams) -> None:
    eager = replace(params, threshold=1e-9, threshold_slow=1e-9, upright_block_s=0.0)
    t, a = lying_then_roll(50.0, walk_s=20.0, bump_g=2.2)
    det = FallDetector(eager)
    assert len(kinds(stream(det, t, a), FallEventKind.FALL_CONFIRMED)) == 1
    assert det.upright is None


# ------------------------------------------------------ a fall, and up again at once
def fall_and_up(
    fs: float, *, impact_g: float = 4.0, free_fall: bool = True, up_after: float = 1.2
) -> tuple[Arr, Arr]:
    """Standing still, a backwards fall (0.4 s free fall, impact), lying on the back for
    `up_after` s, then sitting up and standing (upright again ~2 s after the impact)."""
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 20.0, 1.0 / fs)
    fall_at = 8.0
    a = np.tile(UP, (t.size, 1))
    if free_fall:
        a[(t >= fall_at - 0.4) & (t < fall_at)] = UP * 0.2
    else:  # a deliberate lean: the trunk turns, |a| stays near 1 g
        w = np.clip((t - fall_at + 0.6) / 0.6, 0.0, 1.0)[:, None] * (math.pi / 2)
        lean = (t >= fall_at - 0.6) & (t < fall_at)
        a[lean] = (np.cos(w) * UP + np.sin(w) * LYING)[lean]
    a[(t >= fall_at) & (t < fall_at + 0.06)] = LYING * impact_g + UP * 0.5
    a[(t >= fall_at + 0.06) & (t < fall_at + up_after)] = LYING
    rise = (t >= fall_at + up_after) & (t < fall_at + up_after + 0.8)
    w = np.clip((t - fall_at - up_after) / 0.8, 0.0, 1.0)[:, None] * (math.pi / 2)
    a[rise] = (np.sin(w) * UP + np.cos(w) * LYING)[rise]
    a[t >= fall_at + up_after + 0.8] = UP
    return t, a + rng.normal(0.0, 0.01, a.shape)


@pytest.mark.parametrize("fs", [200.0, 20.0])
def test_fall_and_up_at_once_is_confirmed_then_cancelled(params: FallParams, fs: float) -> None:
    """The person is up ~2 s after the impact: the posture at the end of the post-window
    is the old one, which the gate alone cannot accept. It is still a fall (an event the
    family sees); the recovery watch then withdraws it, so the alarm policy cancels."""
    t, a = fall_and_up(fs)
    det = FallDetector(params)
    ev = stream(det, t, a)
    kinds_seen = [e.kind for e in ev if e.kind is not FallEventKind.IMPACT_SUSPECTED]
    assert kinds_seen == [FallEventKind.FALL_CONFIRMED, FallEventKind.FALL_CANCELLED]
    conf = kinds(ev, FallEventKind.FALL_CONFIRMED)[0]
    assert abs(conf.impact_time - 8.0) < 0.1
    assert conf.orientation_change_deg > 60.0  # the lying posture reached, not the end one
    assert det.got_up_confirms == 1
    # ... and the path can be switched off: then nothing is confirmed
    off = FallDetector(replace(params, getup_angle_deg=0.0))
    assert kinds(stream(off, t, a), FallEventKind.FALL_CONFIRMED) == []


def test_got_up_path_needs_a_real_fall(params: FallParams) -> None:
    """Leaning back hard and up again (no free fall) or a weak bump is not a fall."""
    t, a = fall_and_up(200.0, free_fall=False)
    assert kinds(stream(FallDetector(params), t, a), FallEventKind.FALL_CONFIRMED) == []
    t, a = fall_and_up(200.0, impact_g=1.8)
    assert kinds(stream(FallDetector(params), t, a), FallEventKind.FALL_CONFIRMED) == []
    # a hard impact with a free fall but hardly a moment horizontal (a stumble onto a
    # table and straight up) is not one either
    t, a = fall_and_up(200.0, up_after=0.1)
    assert kinds(stream(FallDetector(params), t, a), FallEventKind.FALL_CONFIRMED) == []


def test_got_up_features_are_reported(params: FallParams) -> None:
    t, a = fall_and_up(50.0)
    cf = candidate_features(t, a, 8.0, params)
    assert cf is not None and not cf.gate and cf.got_up
    assert math.degrees(cf.held_rad) > 80.0
    assert cf.features is not None  # measured (for the event's score), though gated out


def test_feature_clip_bounds_one_features_say(params: FallParams) -> None:
    """A single feature far outside its training range cannot decide alone."""
    from edge.detectors.fall import score_features

    n = len(params.weights)
    p = replace(
        params,
        feature_mean=(0.0,) * n,
        feature_scale=(1.0,) * n,
        weights=(1.0,) + (0.0,) * (n - 1),
        bias=-4.0,
        feature_clip=3.0,
    )
    far = np.zeros(n)
    far[0] = 50.0
    assert score_features(far, p) == pytest.approx(1.0 / (1.0 + math.exp(1.0)))
    assert score_features(far, replace(p, feature_clip=0.0)) > 0.999


def _fixed_score(params: FallParams, logit: float) -> FallParams:
    """Params whose model scores every gated candidate at `logit` (threshold logit -1)."""
    return replace(
        params,
        weights=(0.0,) * len(params.weights),
        bias=logit,
        threshold=1.0 / (1.0 + math.exp(1.0)),
        threshold_slow=1.0 / (1.0 + math.exp(1.0)),
        getup_angle_deg=0.0,
    )


@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_cut_short_window_needs_a_clearer_score(params: FallParams, margin: float) -> None:
    """A candidate just over the threshold is confirmed on a full post-window, but on a
    window the stream cut short only when no partial margin is asked for."""
    p = replace(_fixed_score(params, -0.5), partial_margin_logit=margin)
    t, a = synth(50.0)
    full = stream(FallDetector(p), t, a)
    assert len(kinds(full, FallEventKind.FALL_CONFIRMED)) == 1
    keep = t < 8.0 + 2.5  # the stream stops 2.5 s after the impact (lying still)
    det = FallDetector(p)
    cut = stream(det, t[keep], a[keep]) + det.advance(100.0)
    assert len(kinds(cut, FallEventKind.FALL_CONFIRMED)) == (1 if margin == 0.0 else 0)


def test_cut_short_window_still_confirms_a_clear_fall(params: FallParams) -> None:
    p = _fixed_score(params, 0.5)  # 1.5 logits over the threshold: clears the margin
    t, a = synth(50.0)
    keep = t < 8.0 + 2.5
    det = FallDetector(p)
    cut = stream(det, t[keep], a[keep]) + det.advance(100.0)
    assert len(kinds(cut, FallEventKind.FALL_CONFIRMED)) == 1


def turn(fs: float, turn_s: float, end_at: float = 8.0) -> tuple[Arr, Arr]:
    """Standing still, then the trunk turns 90 degrees (UP to LYING) at a steady rate over
    `turn_s` seconds ending at `end_at`, then lying still; no impact, 10 mg of noise."""
    t = np.arange(int(20.0 * fs)) / fs
    phi = np.clip((t - (end_at - turn_s)) / turn_s, 0.0, 1.0) * (math.pi / 2)
    acc = np.outer(np.cos(phi), UP) + np.outer(np.sin(phi), LYING)
    return t, acc + np.random.default_rng(1).normal(0.0, 0.01, acc.shape)


@pytest.mark.parametrize("fs", [200.0, 20.0])
def test_turn_rate_fast_vs_slow_and_orientation_free(fs: float) -> None:
    from edge.detectors.fall import FEATURES

    k = FEATURES.index("turn_rate")
    p = FallParams()  # the gate and the features do not depend on the trained model
    rates = {}
    for turn_s in (0.2, 2.0):
        t, a = turn(fs, turn_s)
        cf = candidate_features(t, a, 8.0, p)
        assert cf is not None and cf.gate and cf.features is not None
        rates[turn_s] = float(cf.features[k])
        for seed in (1, 2):  # any mounting: the same value
            cr = candidate_features(t, a @ rotation(seed).T, 8.0, p)
            assert cr is not None and cr.features is not None
            assert float(cr.features[k]) == pytest.approx(rates[turn_s], abs=1e-9)
    # 90 degrees within the 0.5 s window: ~pi rad/s; 45 deg/s: ~pi/4 rad/s
    assert rates[0.2] == pytest.approx(math.pi, rel=0.1)
    assert rates[2.0] == pytest.approx(math.pi / 4, rel=0.15)
    assert rates[0.2] > 3.0 * rates[2.0]


def _borderline(params: FallParams) -> FallParams:
    return _fixed_score(params, -0.5)  # 0.5 logit over the threshold, under the margin


def test_small_shortfall_gets_no_margin(params: FallParams) -> None:
    t, a = synth(50.0)
    keep = t < 8.0 + params.post_s - 0.3  # the last 0.3 s of the window missing
    det = FallDetector(_borderline(params))
    ev = stream(det, t[keep], a[keep]) + det.advance(100.0)
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1


def test_a_stall_is_waited_out_not_decided_as_silence(params: FallParams) -> None:
    """Samples stop 2.5 s after the impact and come back 6 s later (a BLE stall): the
    window is decided on what then arrived, without the cut-short margin."""
    t, a = synth(50.0)
    det = FallDetector(_borderline(params))
    before = t < 10.5
    ev = stream(det, t[before], a[before])
    ev += det.advance(8.0 + params.post_s + params.partial_wait_s - 0.1)  # not yet
    assert kinds(ev, FallEventKind.FALL_CONFIRMED) == []
    after = t >= 16.5
    ev += stream(det, t[after], a[after])
    assert len(kinds(ev, FallEventKind.FALL_CONFIRMED)) == 1


def test_turned_down_suspected_impact_is_dismissed(params: FallParams) -> None:
    t, a = synth(50.0)
    ev = stream(FallDetector(_fixed_score(params, -3.0)), t, a)
    assert [e.kind for e in ev] == [
        FallEventKind.IMPACT_SUSPECTED,
        FallEventKind.IMPACT_DISMISSED,
    ]
    assert ev[1].impact_time == pytest.approx(ev[0].impact_time)


@pytest.mark.parametrize("lying", [True, False])
def test_silent_wearable_back_is_judged_by_its_posture(params: FallParams, lying: bool) -> None:
    """A borderline impact, then the wearable silent 2.5 s later (not confirmed on the cut
    window); when it is back, lying confirms the fall late, upright dismisses it."""
    t, a = synth(50.0)
    det = FallDetector(_borderline(params))
    keep = t < 10.5
    ev = stream(det, t[keep], a[keep]) + det.advance(60.0)
    assert kinds(ev, FallEventKind.IMPACT_SUSPECTED)
    assert kinds(ev, FallEventKind.FALL_CONFIRMED) == []
    tb = 70.0 + np.arange(100) / 50.0
    back = np.tile(LYING if lying else UP, (tb.size, 1))
    late = stream(det, tb, back + np.random.default_rng(3).normal(0.0, 0.01, back.shape))
    want = FallEventKind.FALL_CONFIRMED if lying else FallEventKind.IMPACT_DISMISSED
    assert [e.kind for e in late] == [want]
    assert late[0].impact_time == pytest.approx(8.0, abs=0.1)


def test_features_do_not_depend_on_the_clock_epoch(params: FallParams) -> None:
    """A 20 Hz wearable with an exact clock puts samples on the bin grid; UNIX-time stamps
    must bin them as times from zero do (float rounding once shifted whole samples)."""
    t, a = synth(20.0)
    base = candidate_features(t, a, 8.0, params)
    assert base is not None and base.features is not None
    for epoch in (1_700_000_000.03, 1_790_000_000.0):
        moved = candidate_features(t + epoch, a, 8.0 + epoch, params)
        assert moved is not None and moved.features is not None
        np.testing.assert_allclose(moved.features, base.features, rtol=1e-9, atol=1e-9)


def test_turn_rate_ignores_the_direction_of_a_near_zero_g_dip() -> None:
    """A slow lie-down with a 0.1 s dip to 0.03 g (unloading): a vector that small has no
    meaningful direction and must not read as a fast turn."""
    from edge.detectors.fall import FEATURES

    k = FEATURES.index("turn_rate")
    t, a = turn(200.0, 2.0)
    dip = (t >= 7.0) & (t < 7.1)
    noise = np.random.default_rng(5).normal(0.0, 0.02, (int(dip.sum()), 3))
    a[dip] = 0.03 * a[dip] + noise  # ~0.04 g: its direction is mostly sensor noise
    cf = candidate_features(t, a, 8.0, FallParams())
    assert cf is not None and cf.features is not None
    assert float(cf.features[k]) == pytest.approx(math.pi / 4, rel=0.15)
