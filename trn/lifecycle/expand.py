"""Check a sweep's overrides before anything starts: every job planned like a single run.

With Hydra's basic sweeper the jobs are known up front, so each one goes through
:func:`trn.lifecycle.planning.make_plan`; under another sweeper (Optuna, ...) the fixed overrides are checked.
A problem is one line naming the job's overrides (exit 2), and no job has started.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trn.config.arguments import as_written
from trn.devices.request import MULTI_NODE_LAUNCHERS
from trn.errors import UsageError

HYDRA_PREFIXES = ("hydra.", "hydra/", "+hydra", "++hydra", "~hydra")


@dataclass
class Checked:
    jobs: list[list[str]] | None  # each job's task overrides (None: the sweeper decides)
    objective: dict[str, Any] = field(default_factory=dict)
    sweeper: str = "basic"
    plans: list[Any] = field(default_factory=list)  # the jobs' plans, when ``jobs`` is known
    base: dict[str, Any] | None = None  # the first point's resolved config (Optuna: the fixed)

    def plans_by_overrides(self) -> dict[tuple[str, ...], Any]:
        return {tuple(j): p for j, p in zip(self.jobs or [], self.plans, strict=False)}


def is_hydra(override: str) -> bool:
    return override.startswith(HYDRA_PREFIXES)


# the sweeper a user names -> trn's own, which `trn run -m` runs in its place
OURS = {"basic": "trn", "optuna": "trn_optuna"}


def sweeper_of(overrides: list[str]) -> str:
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("hydra/sweeper=")]
    name = chosen[-1] if chosen else "basic"
    return next((user for user, ours in OURS.items() if ours == name), name)


def ours(override: str) -> str:
    """``hydra/sweeper=optuna`` as trn runs it (``trn_optuna``); any other override as it is."""
    key, _, value = override.partition("=")
    return f"{key}={OURS[value]}" if key == "hydra/sweeper" and value in OURS else override


def need_optuna() -> None:
    """``hydra/sweeper=optuna`` runs trn's Optuna loop, whose study is a journal file: Optuna
    3.1 or newer (the optional extra)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(p) for p in version("optuna").split(".")[:2])
    except PackageNotFoundError:
        major, minor = 0, 0
    if (major, minor) < (3, 1):
        raise UsageError(
            "hydra/sweeper=optuna needs Optuna 3.1 or newer (its journal storage keeps the "
            "study in the sweep dir): pip install -c constraints-cpu.txt -e '.[optuna]'"
        )


def launcher_of(overrides: list[str]) -> str:
    """The Hydra launcher the overrides pick (trn's local one unless they say)."""
    picked = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("hydra/launcher=")]
    return picked[-1] if picked else "trn"


def parse(overrides: list[str]) -> list[Any]:
    from trn.config.compose import parse_overrides

    return parse_overrides(overrides)


def check(overrides: list[str], home: Path, config_dir: Path | None = None) -> Checked:
    from trn.lifecycle.planning import make_plan

    task = [o for o in overrides if not is_hydra(o)]
    hydra = [o for o in overrides if is_hydra(o)]
    parsed = parse(overrides)[: len(overrides)]
    sweeper = sweeper_of(overrides)
    if sweeper == "optuna":
        need_optuna()
    by_text = dict(zip(overrides, parsed, strict=True))
    if sweeper == "basic":
        jobs = expand([by_text[o] for o in task])
    else:
        jobs = None
    first = jobs[0] if jobs else [o for o in task if not by_text[o].is_sweep_override()]
    if any(by_text[o].is_sweep_override() for o in hydra):
        raise UsageError("hydra.* overrides cannot be swept; give them one value each")
    # the local launcher starts every job on this machine: none may span nodes
    make = functools.partial(
        make_plan, one_machine=launcher_of(overrides) not in MULTI_NODE_LAUNCHERS
    )
    plans = [_plan(make, first + [ours(o) for o in hydra], home, config_dir, 0, jobs)]
    if jobs:  # the config has no hydra key: the same config, recorded with the job's overrides
        plans[0] = replace(plans[0], overrides=as_written(jobs[0]))
    for n, job in enumerate(jobs or [], 0):
        if n:
            plans.append(_plan(make, job, home, config_dir, n, jobs))
    objective = dict(plans[0].config.get("objective") or {})
    from trn.registry.early_stop import Rule

    for plan in plans[:1] if not jobs else plans:  # sweep.early_stop's schedule must fit
        Rule.of(plan.config)
    return Checked(jobs, objective, sweeper, plans if jobs else [], plans[0].config)


def expand(parsed: list[Any]) -> list[list[str]]:
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.errors import HydraException

    try:
        batches = BasicSweeper.split_arguments(parsed, None)
    except HydraException as err:
        raise UsageError(
            f"{err}; use discrete values (a,b,c or range(...)) or hydra/sweeper=optuna"
        ) from None
    return [job for batch in batches for job in batch]


def _plan(
    make_plan: Any,
    overrides: list[str],
    home: Path,
    config_dir: Path | None,
    n: int,
    jobs: list[list[str]] | None,
) -> Any:
    try:
        return make_plan(overrides, home=home, config_dir=config_dir)
    except UsageError as err:
        if jobs is None or len(jobs) == 1:
            raise
        raise UsageError(f"sweep job {n} ({' '.join(as_written(jobs[n]))}): {err}") from None
