"""Can a job import the project's ``_target_``s? Checked when a job is planned (not by
:func:`trn.config.validate.load`, which judges the config alone), without running any of
the project's code: the top-level package is looked up as the job will (the project root first
on its path, then this interpreter's), then each sub-package on disk. What is left after the
last module found is an attribute, which only the runner's import can check.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from typing import Any

from trn.errors import ConfigError

SUFFIXES = tuple(importlib.machinery.all_suffixes())


def check_imports(config: dict[str, Any], project: Any) -> None:
    """Raise :class:`ConfigError` naming each ``_target_`` (outside trn's own prefixes) whose
    module the job could not import."""
    from trn.config.validate import ALLOWED_TARGETS, targets

    problems = []
    for key, target in targets(config):
        if target.startswith(ALLOWED_TARGETS):
            continue
        missing = missing_module(target, project.root)
        if missing is not None:
            problems.append(f"{key}={target}: {why(missing, target, project)}")
    if problems:
        raise ConfigError(problems)


def missing_module(target: str, root: Path | None) -> str | None:
    """The first module of ``target`` that cannot be found, or None when all that can be
    checked without importing is there."""
    parts = target.split(".")
    spec = _find_top(parts[0], root)
    if spec is None:
        return parts[0]
    locations = list(spec.submodule_search_locations or [])
    for n, part in enumerate(parts[1:-1], start=1):
        if not locations:
            return None  # a module's attribute path (e.g. a nested class): the runner checks it
        found = _sub(locations, part)
        if found is None:
            return ".".join(parts[: n + 1])
        locations = found
    return None


def _find_top(name: str, root: Path | None) -> Any:
    try:
        spec = importlib.util.find_spec(name)  # importlib's finders, editable installs too
    except (ImportError, ValueError):
        spec = None
    if spec is None and root is not None:
        spec = importlib.machinery.PathFinder.find_spec(name, [str(root)])
    return spec


def _sub(locations: list[str], name: str) -> list[str] | None:
    """``name`` inside a package's directories: its own search locations (``[]`` for a plain
    module), or None when it is not there."""
    for where in map(Path, locations):
        if (where / name).is_dir():
            return [str(where / name)]
        if any((where / f"{name}{suffix}").is_file() for suffix in SUFFIXES):
            return []
    return None


def why(missing: str, target: str, project: Any) -> str:
    if project.root is None:
        where = (
            "no project root is on the job's path (no --config-dir, TRN_CONFIG_DIR or "
            "[tool.trn] found from the working directory); run trn from inside your project "
            "or pass --config-dir"
        )
    else:
        where = (
            f"the project root {project.root} is on the job's path; check the spelling of "
            f"{target}, or install the package that provides it"
        )
    return f"cannot import module {missing!r}: {where}"
