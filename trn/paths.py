"""Where trn finds its configs and bundled data, and where it keeps jobs ($TRN_HOME)."""

from __future__ import annotations

import os
from pathlib import Path

from trn.errors import UsageError

_PKG = Path(__file__).resolve().parent
HOME_FIX = "set TRN_HOME to a directory you can write (default ./outputs)"


def trn_home() -> Path:
    """The root of all jobs: ``$TRN_HOME``, default ``./outputs``."""
    return Path(os.environ.get("TRN_HOME") or "outputs").resolve()


def make_dirs(path: Path, home: Path) -> Path:
    """``mkdir -p path`` inside ``home`` ($TRN_HOME); when it cannot be made there, a usage error
    that names TRN_HOME and the fix, not a traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"TRN_HOME={home} {_problem(home, err)}; {HOME_FIX}") from None
    return path


def readable_home(home: Path | None = None) -> Path:
    """``$TRN_HOME`` (or ``home``) for a command that only reads: it need not exist yet, but
    not as a file."""
    home = home or trn_home()
    if home.exists() and not home.is_dir():
        raise UsageError(f"TRN_HOME={home} is not a directory; {HOME_FIX}")
    return home


def _problem(home: Path, err: OSError) -> str:
    if home.exists() and not home.is_dir():
        return "is not a directory"
    return f"cannot be written ({err.strerror}: {err.filename})"


def _shipped(name: str) -> Path:
    """A tree that a wheel ships inside the package and a checkout keeps at the top level."""
    inside = _PKG / name
    return inside if inside.is_dir() else _PKG.parent / name


def conf_dir() -> Path:
    return _shipped("conf")


def bundled_datasets_dir() -> Path:
    return _shipped("datasets")


def schema_path(name: str) -> Path:
    return _PKG / "schemas" / name
