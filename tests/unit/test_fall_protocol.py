"""The nested protocol's mechanics: nothing chosen for a person is chosen with their data."""

from __future__ import annotations

import numpy as np

from edge.detectors.fall import FEATURES, FallParams
from evaluation.fall_cache import Candidates, candidates
from evaluation.fall_eval import Recording
from evaluation.fall_nested import choose, fit_params
from evaluation.fall_outer import Counts, adl_stream, nested_cv, summarize_set
from tests.unit.test_fall_train import rec

K = len(FEATURES)


def table(odd_adls: str | None = None) -> Candidates:
    """Six people, 10 falls and 10 ADLs each (one candidate per recording, 36 s each).
    Falls' features around +1.5, ADLs' around -1.5; `odd_adls`'s ADLs look like falls."""
    rng = np.random.default_rng(3)
    xs: list[np.ndarray] = []
    rec: list[int] = []
    subj: list[str] = []
    lab: list[int] = []
    for s in "ABCDEF":
        for i in range(20):
            fall = i < 10
            mu = 1.5 if fall else (1.0 if s == odd_adls else -1.5)
            xs.append(rng.normal(mu, 0.7, K))
            rec.append(len(subj))
            subj.append(s)
            lab.append(int(fall))
    m = len(rec)
    ones = np.ones(m, dtype=np.bool_)
    lab_a = np.array(lab, dtype=np.int64)
    return Candidates(
        x=np.array(xs),
        rec=np.array(rec, dtype=np.int64),
        gate=ones,
        got_up=~ones,
        partial=~ones,
        impact=lab_a == 1,
        r_subject=np.array(subj, dtype=np.str_),
        r_label=lab_a,
        r_slow=np.zeros(m, dtype=np.bool_),
        r_device=np.zeros(m, dtype=np.bool_),
        r_hours=np.full(m, 0.01),
    )


def test_the_choice_for_a_person_is_made_without_them() -> None:
    c = table(odd_adls="F")
    others = list("ABCDE")
    honest = choose(c, others)
    leaky = choose(c, list("ABCDEF"))
    # F's fall-like ADLs would have moved the threshold had they been seen ...
    assert leaky.thr_fast > honest.thr_fast
    outer = nested_cv([], c, FallParams(), test_subjects=["F"])
    # ... and the outer fold for F uses the choice made without F.
    assert outer.choices["F"] == honest.to_json()


def test_no_fit_or_choice_in_a_fold_sees_its_test_person() -> None:
    c = table()
    seen: list[tuple[str, str, frozenset[str]]] = []
    fold = ["A"]

    def spy(kind: str, subjects: frozenset[str]) -> None:
        seen.append((fold[0], kind, subjects))

    def next_fold(_: int) -> None:
        done = sorted({f for f, _, _ in seen})
        fold[0] = "ABCDEF"[len(done)] if len(done) < 6 else "-"

    nested_cv([], c, FallParams(), spy=spy, progress=next_fold)
    assert {f for f, _, _ in seen} == set("ABCDEF")
    for f, kind, subjects in seen:
        assert f not in subjects, (f, kind, sorted(subjects))
    # the inner CV holds people out too: some fits see fewer than the five others
    assert any(kind == "fit" and len(s) < 5 for _, kind, s in seen)


def test_fit_params_turn_the_choice_into_detector_settings() -> None:
    p, ch = fit_params(FallParams(), table(), list("ABCDEF"))
    assert len(p.weights) == K and p.feature_clip > 0
    assert abs(np.log(p.threshold / (1 - p.threshold)) - ch.thr_fast) < 1e-9
    assert p.partial_margin_logit == ch.margin


def test_bootstrap_interval_and_per_person_spread() -> None:
    per = {
        "A": Counts(falls=10, detected=10, adls=10, adl_alarmed=0, hours=1.0),
        "B": Counts(falls=10, detected=8, adls=10, adl_alarmed=1, false_alarms=1, hours=1.0),
        "C": Counts(falls=10, detected=9, adls=10, adl_alarmed=2, false_alarms=3, hours=2.0),
    }
    s = summarize_set(per)
    assert s["sensitivity"] == 27 / 30 and s["fa_per_hour"] == 1.0
    lo, hi = s["sensitivity_ci95"]
    assert 0.8 <= lo < s["sensitivity"] < hi <= 1.0
    assert s["sensitivity_per_person"] == {"min": 0.8, "median": 0.9, "max": 1.0}
    assert s["weakest_person"] == "B"
    assert s["fa_per_hour_per_person"]["max"] == 1.5
    one = summarize_set({"A": per["A"]})
    assert one["sensitivity_ci95"] == [1.0, 1.0]


def _adl(subject: str, seed: int, fs: float = 50.0) -> Recording:
    return rec(False, subject, seed, fs)


def test_adl_stream_has_no_recording_ends() -> None:
    a, b = _adl("S1", 1), _adl("S1", 2)
    fall = rec(True, "S1", 3, 50.0)
    made = adl_stream([b, fall, a])
    assert made is not None
    st, joins = made
    assert st.label == 0
    # one join, in the blend right after the first recording (sorted by name: a, b)
    assert joins.shape == (1,) and a.t[-1] - a.t[0] < joins[0] < a.t[-1] - a.t[0] + 1.0
    assert np.all(np.diff(st.t) > 0)
    # both ADLs and a one-second blend, the fall left out
    assert st.t.shape[0] == a.t.shape[0] + b.t.shape[0] + 50
    # no jump between recordings: the blend moves a fiftieth of |a end - b start| a step
    step = np.abs(np.diff(st.accel, axis=0)).max()
    own = max(np.abs(np.diff(r.accel, axis=0)).max() for r in (a, b))
    assert step <= max(own, np.abs(b.accel[0] - a.accel[-1]).max() / 50) + 1e-9
    assert np.diff(st.t).max() < 2.0 / 50.0


def test_candidates_are_cached_and_reloaded(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    recs = [rec(True, "S1", 1, 100.0), rec(False, "S1", 2, 100.0)]
    c1 = candidates(recs, FallParams(), variants=("raw", "down20"), cache_dir=d)
    files = sorted(d.glob("*.npz"))
    assert len(files) == 2
    c2 = candidates(recs, FallParams(), variants=("raw", "down20"), cache_dir=d)
    np.testing.assert_array_equal(c1.x, c2.x)
    np.testing.assert_array_equal(c1.rec, c2.rec)
    assert int(c1.impact.sum()) == 2  # the fall's impact, in both variants
    assert c1.r_slow.tolist() == [False, False, True, True]


def test_a_trial_is_judged_person_by_person() -> None:
    from evaluation.fall_outer import Outer, compare

    def outer(extra: dict[str, int]) -> Outer:
        per = {
            p: Counts(falls=50, detected=45 + extra.get(p, 0), adls=50, hours=1.0)
            for p in "ABCDEFGH"
        }
        return Outer({"set": per}, {})

    base = outer({})
    same = compare(base, base, "set")
    assert same["sensitivity"] == {"change": 0.0, "ci95": [0.0, 0.0]}
    # two more falls found for every person: beyond noise
    wide = compare(base, outer(dict.fromkeys("ABCDEFGH", 2)), "set")
    assert abs(wide["sensitivity"]["change"] - 2 / 50) < 1e-12
    assert wide["sensitivity"]["ci95"][0] > 0.0
    # five more falls, all of one person: the interval over people still reaches zero
    one = compare(base, outer({"A": 5}), "set")
    assert one["sensitivity"]["change"] > 0.0 and one["sensitivity"]["ci95"][0] == 0.0
