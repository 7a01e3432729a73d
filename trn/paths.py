"""Where trn finds its configs and bundled data, and where it keeps jobs ($TRN_HOME).

A project is the directory of the nearest ``pyproject.toml`` with a ``[tool.trn]`` table, walking
up from the working directory (or from ``TRN_CONFIG_DIR``, the ``--config-dir`` of a command):
:func:`project_root`. Inside one, jobs live in ``<project root>/outputs`` unless ``TRN_HOME``
says otherwise, so every directory of a project, and every command run in it, sees one home.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trn.errors import UsageError

_PKG = Path(__file__).resolve().parent
HOME_FIX = "set TRN_HOME to a directory you can write"
PYPROJECT = "pyproject.toml"
CONFIG_DIR_ENV = "TRN_CONFIG_DIR"


def trn_home() -> Path:
    """The root of all jobs: ``$TRN_HOME``; inside a project ``<project root>/outputs``; else
    ``./outputs``."""
    return home_and_source()[0]


def home_and_source() -> tuple[Path, str]:
    """``$TRN_HOME`` and what chose it, in words (``trn status`` and ``trn list`` say it)."""
    if os.environ.get("TRN_HOME"):
        return Path(os.environ["TRN_HOME"]).expanduser().resolve(), "TRN_HOME"
    root = project_root()
    if root is not None:
        return (root / "outputs").resolve(), f"the project at {root}"
    return Path("outputs").resolve(), "the working directory: no project found"


def project_root() -> Path | None:
    """The project a command runs in: ``TRN_CONFIG_DIR``'s (the nearest ``[tool.trn]`` above it,
    else its parent), else the nearest ``[tool.trn]`` above the working directory; None outside
    one. (:mod:`trn.config.project` finds the rest of the project the same way.)"""
    given = os.environ.get(CONFIG_DIR_ENV)
    try:
        here = Path.cwd()
    except OSError:  # the working directory was deleted
        return None
    if given:
        directory = (here / Path(given).expanduser()).resolve()
        found = nearest_pyproject(directory)
        return found.parent if found else directory.parent
    found = nearest_pyproject(here)
    return found.parent if found else None


def nearest_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.trn]`` table at or above ``start`` (a
    ``pyproject.toml`` without the table does not stop the walk, as for pytest and ruff)."""
    for directory in [start, *start.parents]:
        candidate = directory / PYPROJECT
        if candidate.is_file() and "trn" in tool_tables(candidate):
            return candidate.resolve()
    return None


def tool_tables(path: Path) -> dict[str, Any]:
    """``[tool]`` of a ``pyproject.toml``: its tables by name."""
    tool = read_toml(path).get("tool")
    return tool if isinstance(tool, dict) else {}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise UsageError(
                f"reading {path} needs Python 3.11 or the tomli package; pip install tomli"
            ) from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path} is not valid TOML ({err}); fix the file") from None
    except OSError:  # unreadable: not a project file we can use
        return {}


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
