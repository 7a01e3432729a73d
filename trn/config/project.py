"""A user's project: its config dir (searched before trn's ``conf/``), its root (on the path of
every process a job starts) and the ``_target_`` prefixes it trusts.

Found by :func:`find`, in this order:

1. ``--config-dir DIR`` / ``-cd DIR`` (the CLI turns it into ``TRN_CONFIG_DIR`` for the command,
   so every process it starts composes the same way);
2. ``TRN_CONFIG_DIR``;
3. ``[tool.trn]`` in the nearest ``pyproject.toml`` that has such a table, walking up from the
   working directory (as pytest and ruff find theirs; a ``pyproject.toml`` without the table does
   not stop the walk). Its ``config_dir`` (default ``conf``, when that directory exists) is
   relative to the file.

With 1 or 2 the root and the trust come from the nearest ``pyproject.toml`` with ``[tool.trn]``
above the config dir, else the root is the config dir's parent. Trust is read from the project's
files each time (``[tool.trn] allow_targets`` and ``allow_targets:`` of its ``config.yaml``),
never from a checkpoint or a job record.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn.errors import UsageError
from trn.jobdir import JobDir
from trn.paths import CONFIG_DIR_ENV, PYPROJECT, nearest_pyproject, tool_tables
from trn.registry.record import JobRecord
from trn.text import did_you_mean

ENV = CONFIG_DIR_ENV
DEFAULT_CONFIG_DIR = "conf"
# [tool.trn] key -> (what it must be, an example of a right value)
KEYS = {
    "config_dir": ("a string (a directory relative to pyproject.toml)", 'config_dir = "conf"'),
    "allow_targets": ("a list of strings (_target_ prefixes)", 'allow_targets = ["mypkg."]'),
}


@dataclass(frozen=True)
class Project:
    root: Path | None = None  # on sys.path of every process a job starts
    config_dir: Path | None = None  # searched before trn's bundled conf/
    allow_targets: tuple[str, ...] = ()
    source: str = ""  # how it was found, for `trn config where`; "" when there is no project
    pyproject: Path | None = None  # the file with [tool.trn], if any

    def env(self) -> dict[str, str]:
        """What a job's processes need in their environment to import the project's code:
        ``PYTHONPATH`` with the root first (inherited by DDP re-launches, sweep workers, Slurm
        tasks and detached supervisors alike)."""
        if self.root is None:
            return {}
        current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        root = str(self.root)
        return {"PYTHONPATH": os.pathsep.join([root] + [p for p in current if p != root])}

    @contextmanager
    def on_path(self) -> Iterator[None]:
        """The project's root on this process's ``sys.path`` for the block: planning imports a
        model's module to tell a LightningModule from a plain ``nn.Module``."""
        import sys

        root = str(self.root) if self.root else None
        added = root is not None and root not in sys.path
        if added:
            sys.path.insert(0, root)  # type: ignore[arg-type]
        try:
            yield
        finally:
            if added and root in sys.path:
                sys.path.remove(root)  # type: ignore[arg-type]

    def to_record(self) -> dict[str, str | None]:
        """For the job record: enough to find the project again from any directory."""
        return {
            "config_dir": str(self.config_dir) if self.config_dir else None,
            "project_root": str(self.root) if self.root else None,
        }

    def trust_hint(self, prefix: str) -> str:
        """The one line that would make ``prefix`` trusted in this project."""
        if self.pyproject is not None:
            return f'add allow_targets = ["{prefix}"] to [tool.trn] in {self.pyproject}'
        if self.config_dir is not None:
            return f"add allow_targets: [{prefix}] to {self.config_dir / 'config.yaml'}"
        return (
            f'add allow_targets = ["{prefix}"] to [tool.trn] in your project\'s {PYPROJECT} '
            f"(or pass 'allow_targets=[{prefix}]' for this run)"
        )


NONE = Project()
_flags: list[str] = []  # the config dirs `using` put in TRN_CONFIG_DIR, innermost last


def find(
    config_dir: str | Path | None = None,
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> Project:
    """The project for a command: an explicit ``config_dir`` (the flag), else ``TRN_CONFIG_DIR``,
    else the nearest ``[tool.trn]`` above ``cwd``; :data:`NONE` when there is none."""
    environ: Any = os.environ if env is None else env
    here = Path(cwd or os.getcwd())
    if config_dir is not None:
        return from_dir(config_dir, "--config-dir", here)
    if environ.get(ENV):
        flag = _flags and _flags[-1] == environ[ENV]  # set by `using` for this command
        return from_dir(environ[ENV], "--config-dir" if flag else ENV, here)
    pyproject = nearest_pyproject(here)
    if pyproject is None:
        return NONE
    table = read_table(pyproject)
    given = table.get("config_dir")
    directory: Path | None = pyproject.parent / (given or DEFAULT_CONFIG_DIR)
    if given is not None:
        check_dir(pyproject.parent / given, f'{pyproject}: [tool.trn] config_dir = "{given}"')
    elif not (pyproject.parent / DEFAULT_CONFIG_DIR).is_dir():
        directory = None  # a project with code only, no configs
    return Project(
        root=pyproject.parent,
        config_dir=directory.resolve() if directory else None,
        allow_targets=trust_of(table, directory),
        source=f"{pyproject} [tool.trn]",
        pyproject=pyproject,
    )


def from_dir(given: str | Path, origin: str, cwd: Path) -> Project:
    """The project whose config dir is ``given`` (``origin``: the flag or variable that named
    it); its root is the nearest ``[tool.trn]`` pyproject above it, else its parent."""
    name = f"--config-dir {given}" if origin == "--config-dir" else f"{origin}={given}"
    directory = (cwd / Path(given).expanduser()).resolve()
    check_dir(directory, name)
    pyproject = nearest_pyproject(directory)
    table = read_table(pyproject) if pyproject else {}
    return Project(
        root=pyproject.parent if pyproject else directory.parent,
        config_dir=directory,
        allow_targets=trust_of(table, directory),
        source=origin,
        pyproject=pyproject,
    )


def from_record(record: JobRecord) -> Project:
    """The project a job ran with (its record's ``project``), found again from any directory;
    :data:`NONE` for a job without one."""
    saved = record.project
    config_dir = saved.get("config_dir")
    if config_dir:
        return from_dir(config_dir, "the job's config_dir", Path("/"))
    root = saved.get("project_root")
    if not root:
        return NONE
    if not Path(root).is_dir():
        raise UsageError(
            f"job {record.job_id}'s project root {root} is gone; restore it, "
            "or resume from inside the project with --config-dir"
        )
    pyproject = Path(root) / PYPROJECT
    table = read_table(pyproject) if pyproject.is_file() else {}
    return Project(
        root=Path(root),
        allow_targets=trust_of(table, None),
        source="the job's record",
        pyproject=pyproject if table else None,
    )


def for_resume(record: JobRecord | None = None, job_dir: str | Path | None = None) -> Project:
    """The project a resumed (or rerun) job runs with: ``--config-dir``/``TRN_CONFIG_DIR`` when
    given, else the one its parent job recorded (``record``, or the ``job.json`` in
    ``job_dir``), else the one found from the working directory. Its trust is read afresh."""
    if os.environ.get(ENV):
        return find()
    if record is None and job_dir is not None:
        import json

        try:
            record = JobRecord.from_dict(json.loads(JobDir(job_dir).record.read_text()))
        except (OSError, ValueError):
            record = None
    if record and record.project:
        return from_record(record)
    return find()


def check_dir(directory: Path, name: str) -> None:
    if not directory.exists():
        raise UsageError(f"{name}: no such directory; give the project's config dir")
    if not directory.is_dir():
        raise UsageError(f"{name} is a file; give the directory that holds the configs")
    if not any(directory.rglob("*.yaml")):
        raise UsageError(
            f"{name}: no .yaml files in {directory}; put configs there (e.g. model/NAME.yaml) "
            "or point at the directory that has them"
        )
    groups = [p for p in directory.iterdir() if p.is_dir() and any(p.glob("*.yaml"))]
    if not groups and not (directory / "config.yaml").is_file():
        # e.g. conf/model: its files would be read as nothing at all, and trn's model trained
        raise UsageError(
            f"{name}: no config group in {directory} (a group is a directory of options, e.g. "
            f"model/NAME.yaml); give the directory above the groups"
            + (f", e.g. --config-dir {directory.parent}" if directory.parent != directory else "")
        )


def unsearched_conf(project: Project, cwd: Path | None = None) -> Path | None:
    """``./conf`` when it holds configs but is not on the search path (no ``[tool.trn]`` found
    it, or another project's dir is searched): its options would silently not be used."""
    from trn.paths import conf_dir

    try:
        here = (cwd or Path.cwd()) / DEFAULT_CONFIG_DIR
    except OSError:
        return None
    if not here.is_dir() or not any(here.glob("*/*.yaml")):
        return None
    here = here.resolve()
    return None if here in (project.config_dir, conf_dir().resolve()) else here


def unsearched_hint(project: Project) -> str:
    """The fix for :func:`unsearched_conf`, in words."""
    conf = unsearched_conf(project)
    if conf is None:
        return ""
    return (
        f"{conf} is not searched: pass --config-dir {conf}, or add [tool.trn] to "
        f"{conf.parent / PYPROJECT} (`trn init --here` writes it)"
    )


def read_table(path: Path) -> dict[str, Any]:
    """``[tool.trn]`` of ``path``, checked: an unknown key or a wrong type is a usage error."""
    table = tool_tables(path).get("trn")
    if not isinstance(table, dict):
        raise UsageError(f"{path}: tool.trn must be a table; write [tool.trn] on its own line")
    for key, value in table.items():
        if key not in KEYS:
            raise UsageError(
                f"{path}: [tool.trn] has no key {key!r}{did_you_mean(key, KEYS)}; remove it "
                f"(known keys: {', '.join(sorted(KEYS))})"
            )
        want, example = KEYS[key]
        ok = (
            isinstance(value, str) and bool(value)
            if key == "config_dir"
            else isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        )
        if not ok:
            raise UsageError(f"{path}: [tool.trn] {key} must be {want}; e.g. {example}")
    return table


def trust_of(table: dict[str, Any], config_dir: Path | None) -> tuple[str, ...]:
    """The prefixes the project trusts: ``[tool.trn] allow_targets`` and ``allow_targets:`` of
    its ``config.yaml`` (a broken file is reported when it is composed, not here)."""
    prefixes = list(table.get("allow_targets") or [])
    primary = config_dir / "config.yaml" if config_dir else None
    if primary is not None and primary.is_file():
        import yaml

        try:
            data = yaml.safe_load(primary.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            data = None
        listed = data.get("allow_targets") if isinstance(data, dict) else None
        if isinstance(listed, list):
            prefixes += [str(p) for p in listed if p]
    return tuple(dict.fromkeys(prefixes))


# -- the CLI flag ---------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-cd",
        "--config-dir",
        metavar="DIR",
        help="your project's config dir, searched before trn's conf/ (also TRN_CONFIG_DIR, "
        "or [tool.trn] config_dir in pyproject.toml)",
    )


@contextmanager
def using(config_dir: str | Path | None) -> Iterator[None]:
    """``TRN_CONFIG_DIR`` set to ``config_dir`` (checked, made absolute) for the block, so that
    every composer of this process and every process it starts finds the same project."""
    if config_dir is None:
        yield
        return
    project = from_dir(config_dir, "--config-dir", Path.cwd())
    before = os.environ.get(ENV)
    os.environ[ENV] = str(project.config_dir)
    _flags.append(os.environ[ENV])
    try:
        yield
    finally:
        _flags.pop()
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def from_args(args: argparse.Namespace) -> Any:
    """:func:`using` for a parsed command line (a no-op for commands without the flag)."""
    return using(getattr(args, "config_dir", None))
