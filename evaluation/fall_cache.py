"""Candidate impacts of every recording, measured once by the real detector, cached on disk.

The nested cross-validation (`evaluation.fall_nested`) refits the logistic model and
re-chooses its thresholds hundreds of times; what the detector measures at a candidate
impact does not depend on the model, so every recording (and each of its device
variants: block-averaged to 20 and 25 Hz, and as a 20 Hz BLE link delivers it) is streamed
through an untrained `FallDetector` once. The result is stored under `.cache/fall/` (git
ignores it), keyed by the recordings, the variant, the detector's source code and its
settings: any change to what is measured invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FEATURES, CandidateFeatures, FallDetector, FallParams
from evaluation.fall_eval import Recording, ble_link, downsample, stream

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CACHE_DIR = Path(".cache/fall")
CACHE_VERSION = 1
MATCH_S = 1.5  # a candidate this close to the largest |a| of a fall recording is the fall
#: Device variants: "raw" as recorded, "down<hz>" block-averaged with jitter, "ble<hz>"
#: through the BLE link model, "dev<hz>" the BLE link as another device reads it
#: (`other_device`). Training uses them all for fast (200 Hz) recordings.
TRAIN_VARIANTS: tuple[str, ...] = ("raw", "down20", "down25", "ble20")
#: Seeds: training variants and the outer test variants are different realisations.
SEED_TRAIN = 20261125
SEED_TEST = 20261204


def variant(r: Recording, name: str, seed: int) -> Recording | None:
    """`r` as device variant `name` (None when `r` is not fast enough for it). Seeded per
    recording (by its name), so a variant does not depend on which others are made."""
    if name == "raw":
        return r
    hz = float(name[4:] if name.startswith("down") else name[3:])
    if r.fs <= 1.5 * hz:
        return None
    key = f"{r.source}/{r.filename}/{r.position}/{name}".encode()
    rng = np.random.default_rng((seed, zlib.crc32(key)))
    if name.startswith("down"):
        return downsample(r, hz, rng)
    b = ble_link(r, hz, rng)
    if name.startswith("dev"):
        return other_device(b, rng)
    return b


DEV_RANGE_G = 8.0  # "dev" variants: a smaller accelerometer's range, g
DEV_NOISE_G = 0.02  # ... its white noise, g RMS per axis


def other_device(r: Recording, rng: np.random.Generator) -> Recording:
    """`r` as another device would read it: +-`DEV_RANGE_G`, `DEV_NOISE_G` noise, the axes
    permuted and their signs flipped (another axis convention and mounting)."""
    a = r.accel[:, rng.permutation(3)] * rng.choice((-1.0, 1.0), 3)
    a = np.clip(a + rng.normal(0.0, DEV_NOISE_G, a.shape), -DEV_RANGE_G, DEV_RANGE_G)
    return replace(r, accel=a)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Every candidate impact of a set of recordings (rows) and the recordings (`r_*`)."""

    x: FloatArray  # [m, k] features, order FEATURES (NaN when the early gate rejected it)
    rec: IntArray  # [m] index into the recordings
    gate: BoolArray  # passed the detector's physical gate
    got_up: BoolArray  # the got-up path confirms it whatever the model says
    partial: BoolArray  # decided on part of the post-window (the stream ended)
    impact: BoolArray  # a fall recording's own impact (nearest its largest |a|)
    r_subject: npt.NDArray[np.str_]  # [R]
    r_label: IntArray  # [R] 1 fall, 0 ADL
    r_slow: BoolArray  # [R] below the detector's slow_rate_hz (a ~20 Hz wearable)
    r_device: BoolArray  # [R] a slow recording of a real slow device (not a variant)
    r_hours: FloatArray  # [R] duration, h

    @property
    def n_recordings(self) -> int:
        return int(self.r_label.shape[0])

    def subjects(self) -> list[str]:
        return sorted({str(s) for s in self.r_subject})


def _concat(parts: Sequence[Candidates]) -> Candidates:
    off = np.cumsum([0] + [p.n_recordings for p in parts])[:-1]
    k = len(FEATURES)
    return Candidates(
        x=np.concatenate([p.x for p in parts]).reshape(-1, k),
        rec=np.concatenate([p.rec + o for p, o in zip(parts, off, strict=True)]).astype(np.int64),
        gate=np.concatenate([p.gate for p in parts]).astype(np.bool_),
        got_up=np.concatenate([p.got_up for p in parts]).astype(np.bool_),
        partial=np.concatenate([p.partial for p in parts]).astype(np.bool_),
        impact=np.concatenate([p.impact for p in parts]).astype(np.bool_),
        r_subject=np.concatenate([p.r_subject for p in parts]).astype(np.str_),
        r_label=np.concatenate([p.r_label for p in parts]).astype(np.int64),
        r_slow=np.concatenate([p.r_slow for p in parts]).astype(np.bool_),
        r_device=np.concatenate([p.r_device for p in parts]).astype(np.bool_),
        r_hours=np.concatenate([p.r_hours for p in parts]).astype(np.float64),
    )


def measure(
    recs: Sequence[Recording],
    params: FallParams,
    progress: Callable[[int], None] | None = None,
) -> Candidates:
    """Stream each recording through an untrained detector and log every candidate."""
    untrained = replace(params, bias=-50.0, weights=(0.0,) * len(FEATURES))
    k = len(FEATURES)
    xs: list[FloatArray] = []
    cols: list[tuple[int, bool, bool, bool, bool]] = []
    for i, r in enumerate(recs):
        got: list[tuple[CandidateFeatures, float]] = []

        def sink(
            cf: CandidateFeatures,
            t_peak: float,
            peak: float,
            got: list[tuple[CandidateFeatures, float]] = got,
        ) -> None:
            got.append((cf, t_peak))

        stream(FallDetector(untrained, feature_sink=sink), r.t, r.accel)
        j_imp = -1
        if r.label == 1 and got:
            m2 = np.einsum("ij,ij->i", r.accel, r.accel)
            t_max = float(r.t[int(np.nanargmax(m2))])
            d = [abs(tp - t_max) for _, tp in got]
            j = int(np.argmin(d))
            j_imp = j if d[j] <= MATCH_S else -1
        t_end = float(r.t[-1]) if r.t.shape[0] else 0.0
        for j, (cf, tp) in enumerate(got):
            f = cf.features if cf.features is not None else np.full(k, np.nan)
            xs.append(f)
            part = tp + params.post_s - t_end > params.partial_missing_s
            cols.append((i, cf.gate, cf.got_up, part, j == j_imp))
        if progress is not None:
            progress(1)
    a = np.array(cols, dtype=np.int64).reshape(-1, 5)
    dur = np.array([float(r.t[-1] - r.t[0]) if r.t.shape[0] > 1 else 0.0 for r in recs])
    return Candidates(
        x=np.array(xs, dtype=np.float64).reshape(-1, k),
        rec=a[:, 0].copy(),
        gate=a[:, 1].astype(np.bool_),
        got_up=a[:, 2].astype(np.bool_),
        partial=a[:, 3].astype(np.bool_),
        impact=a[:, 4].astype(np.bool_),
        r_subject=np.array([r.subject for r in recs], dtype=np.str_),
        r_label=np.array([r.label for r in recs], dtype=np.int64),
        r_slow=np.array([r.fs < params.slow_rate_hz for r in recs], dtype=np.bool_),
        r_device=np.array(
            [r.fs < params.slow_rate_hz and r.source != "SisFall" for r in recs], dtype=np.bool_
        ),
        r_hours=dur / 3600.0,
    )


def _code_hash() -> str:
    """Hash of the detector's own source: a change to what it measures drops the cache."""
    import edge.detectors.fall as pkg

    h = hashlib.sha256()
    for p in sorted(Path(pkg.__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


#: The detector's source as imported (not as edited while a long run goes on).
_CODE_HASH = _code_hash()


def _key(recs: Sequence[Recording], name: str, seed: int, params: FallParams, code: str) -> str:
    h = hashlib.sha256()
    h.update(f"{CACHE_VERSION}/{name}/{seed}/{code}".encode())
    h.update(json.dumps(params.to_json(), sort_keys=True).encode())
    for r in recs:
        h.update(f"{r.source}/{r.filename}/{r.position}/{r.t.shape[0]}/{r.label}".encode())
        h.update(r.accel[:: max(1, r.accel.shape[0] // 16)].tobytes())
    return h.hexdigest()[:24]


_ARRAYS = ("x", "rec", "gate", "got_up", "partial", "impact")
_RECS = ("r_subject", "r_label", "r_slow", "r_device", "r_hours")


def candidates(
    recs: Sequence[Recording],
    params: FallParams,
    variants: Sequence[str] = TRAIN_VARIANTS,
    seed: int = SEED_TRAIN,
    cache_dir: Path | None = CACHE_DIR,
    progress: Callable[[int], None] | None = None,
) -> Candidates:
    """Candidates of `recs` in every device variant (cached per variant in `cache_dir`;
    None: no cache). Untrained model settings in `params` do not matter."""
    base = replace(params, bias=-50.0, weights=(0.0,) * len(FEATURES))
    parts: list[Candidates] = []
    code = _CODE_HASH
    for name in variants:
        path = None
        if cache_dir is not None:
            path = cache_dir / f"cand-{name}-{_key(recs, name, seed, base, code)}.npz"
            if path.exists():
                with np.load(path, allow_pickle=False) as z:
                    parts.append(Candidates(**{f: z[f] for f in _ARRAYS + _RECS}))
                if progress is not None:
                    progress(len(recs))
                continue
        made = [variant(r, name, seed) for r in recs]
        c = measure([v for v in made if v is not None], params, progress)
        if progress is not None:
            progress(sum(v is None for v in made))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **{f: getattr(c, f) for f in _ARRAYS + _RECS})
            tmp.replace(path)
        parts.append(c)
    return _concat(parts)
