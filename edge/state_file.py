"""The agent's learned-state files (routine model, trend baselines): atomic writes and
forgiving reads.

A detector's learned state is worth keeping but never worth not starting for: a missing
file is a cold start, an unreadable one (permissions, a directory in the way) is logged
and the detector starts empty, and a corrupt one is set aside as `<name>.bad` (kept for
a post-mortem) so the next save does not trip over it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def write_atomic(path: Path, text: str) -> None:
    """A crash leaves the old file or the new one, never half of one (temp file in the
    same directory, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(path: Path, what: str) -> str | None:
    """The file's text, or None (logged) when there is none or it cannot be read.
    `what` names the state in the log ("routine", "trends")."""
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        log.info("%s: no saved state at %s: starting from scratch", what, path)
    except UnicodeDecodeError as exc:  # not text: corrupt
        set_aside(path, what, exc)
    except OSError as exc:
        # Unreadable where it is: watch without history rather than not at all; the
        # saves will log their own errors.
        log.error("%s: cannot read state %s (%s); starting from scratch", what, path, exc)
    return None


def set_aside(path: Path, what: str, exc: Exception) -> None:
    """A state file that does not parse: kept as `<name>.bad`, logged."""
    bad = path.with_suffix(path.suffix + ".bad")
    with contextlib.suppress(OSError):
        path.replace(bad)
    log.error("%s: state %s unreadable (%s); kept as %s, starting over", what, path, exc, bad)
