"""Where the shared fall datasets live, and picking one recording out of them.

The datasets are not in the repository (36 MB, no licence to redistribute): they sit in
`../shared/datasets/` beside the work tree, or wherever `MZ_DATASETS` points (a folder).
A scenario names a file (`sisfall-dev.npz`) or an absolute path; `dataset_path` resolves
it, and a missing file is the caller's to report (the demo runs on without the replay).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np

from simulators.devices.wearable import ReplayRecording

DEFAULT_DATASET: Final = "sisfall-dev.npz"
ENV_VAR: Final = "MZ_DATASETS"
_REPO: Final = Path(__file__).resolve().parents[1]


def datasets_dir(env: Mapping[str, str] | None = None) -> Path:
    """`MZ_DATASETS`, else `../shared/datasets` relative to the repository."""
    env = os.environ if env is None else env
    override = env.get(ENV_VAR)
    return Path(override) if override else _REPO.parent / "shared" / "datasets"


def dataset_path(name: str = DEFAULT_DATASET, env: Mapping[str, str] | None = None) -> Path:
    path = Path(name)
    return path if path.is_absolute() else datasets_dir(env) / path


def select_recording(
    path: Path,
    *,
    code: str | None = None,
    subject: str | None = None,
    trial: int | None = None,
    label: int | None = None,
    index: int = 0,
    start_s: float = 0.0,
) -> ReplayRecording:
    """The `index`-th recording matching every given filter, from `start_s` seconds on.

    Raises FileNotFoundError for a missing file and LookupError when nothing matches.
    """
    with np.load(path, allow_pickle=False) as z:
        n = len(z["offsets"]) - 1
        ok = np.ones(n, dtype=bool)
        if code is not None:
            ok &= z["code"] == code
        if subject is not None:
            ok &= z["subject"] == subject
        if trial is not None and "trial" in z.files:
            ok &= z["trial"] == trial
        if label is not None:
            ok &= z["label"] == label
        hits = np.flatnonzero(ok)
        if not -hits.size <= index < hits.size:
            raise LookupError(
                f"{hits.size} recordings match code={code} subject={subject} trial={trial}"
                f" label={label}; no index {index}"
            )
        i = int(hits[index])
        lo, hi = int(z["offsets"][i]), int(z["offsets"][i + 1])
        acc = z["accel"][lo:hi].astype(np.float64)
        fs = float(z["fs"][i])
        if "t_ms" in z.files:
            t = z["t_ms"][lo:hi].astype(np.float64) / 1000.0
            t -= t[0]
        else:
            t = np.arange(hi - lo, dtype=np.float64) / fs
        keep = t >= start_s
        if not keep.any():
            raise LookupError(f"recording is {t[-1]:.1f} s long; start_s {start_s} is past it")
        return ReplayRecording(
            t=t[keep] - t[keep][0],
            accel=acc[keep],
            fs=fs,
            label=int(z["label"][i]),
            code=str(z["code"][i]),
            subject=str(z["subject"][i]),
            activity=str(z["activity"][i]) if "activity" in z.files else "",
        )
