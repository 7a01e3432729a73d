"""Where trn finds its configs and bundled data, and where it keeps jobs ($TRN_HOME)."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def trn_home() -> Path:
    """The root of all jobs: ``$TRN_HOME``, default ``./outputs``."""
    return Path(os.environ.get("TRN_HOME") or "outputs").resolve()


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
