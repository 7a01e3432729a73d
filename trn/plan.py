"""Plan, then execute: everything a job needs, decided before anything is started.

``make_plan`` composes and validates the config and picks devices; ``describe`` makes it
printable (``trn run --dry-run``); :mod:`trn.supervisor` carries it out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trn.devices import Allocation
from trn.devices.manager import plan_allocation
from trn.paths import trn_home

RUNNER_MODULE = "trn.runner"


@dataclass
class Plan:
    config: dict[str, Any]
    overrides: list[str]
    allocation: Allocation
    home: Path
    attempt: int = 1
    parent_job_id: str | None = None
    sweep_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    project: dict[str, str | None] = field(default_factory=dict)  # Project.to_record()

    def command(self, job_dir: Path | str = "JOB_DIR") -> list[str]:
        return [sys.executable, "-m", RUNNER_MODULE, str(job_dir)]


def make_plan(
    overrides: list[str],
    *,
    home: Path | None = None,
    config_dir: Path | None = None,
    sweep_id: str | None = None,
) -> Plan:
    from trn.config.compose import find_project
    from trn.config.imports import check_imports
    from trn.config.validate import load

    resume = [o.partition("=")[2] for o in overrides if o.startswith("resume=")]
    if resume and resume[-1] not in ("", "null"):  # issue 5: a resume restores its own config
        from trn.resume import plan_resume

        rest = [o for o in overrides if not o.startswith("resume=")]
        return plan_resume(resume[-1], rest, home=home, sweep_id=sweep_id)
    project = find_project(config_dir)  # its config dir first; its root on the job's path
    config = load(overrides, project=project)
    check_imports(config, project)  # a _target_ whose module the job could not import
    check_data(config)
    if config.get("weights"):  # issue 5: a missing or corrupt weights file fails now, not later
        from trn.checkpoints.meta import check_weights

        config["weights"] = check_weights(config["weights"])
    home = Path(home) if home else trn_home()
    return Plan(
        config=config,
        overrides=list(overrides),
        # a preview (UsageError if never possible here); the supervisor leases the real GPUs
        allocation=plan_allocation(config["devices"], home),
        home=home,
        sweep_id=sweep_id,
        env=project.env(),
        project=project.to_record(),
    )


def plan_with_flags(flags: Any, overrides: list[str], **kwargs: Any) -> Plan:
    """:func:`make_plan` for ``trn run``'s flags (:class:`trn.config.flags.Flags`) plus
    overrides; errors name the flag at fault."""
    from trn.config.flags import annotate, home_env, resolve
    from trn.config.project import using
    from trn.errors import UsageError

    with using(getattr(flags, "config_dir", None)):  # --config-dir / trn.submit(config_dir=)
        resolved = resolve(flags, overrides, kwargs.get("config_dir"))
        kwargs.setdefault("home", resolved.home)
        try:
            with home_env(resolved.home):  # e.g. the dataset check's cache lives there too
                return make_plan(resolved.overrides, **kwargs)
        except UsageError as err:
            raise annotate(err, resolved.origins) from None


def check_data(config: dict[str, Any]) -> None:
    """Check a trn dataset's index and shard files now, before any job dir exists."""
    data = config["data"]
    if data.get("_target_") != "trn.data.datamodule.ShardDataModule" or "path" not in data:
        return
    from trn.data.index import resolve_dataset
    from trn.data.verify import check_dataset

    check_dataset(resolve_dataset(data["path"]))


def describe(plan: Plan) -> dict[str, Any]:
    return {
        "config": plan.config,
        "overrides": plan.overrides,
        "devices": plan.allocation.device_ids,
        "trainer": plan.allocation.trainer_kwargs(),
        "env": plan.allocation.env,
        "command": plan.command(),
        "trn_home": str(plan.home),
        "resume": plan.config.get("resume"),  # issue 5
        "weights": plan.config.get("weights"),
        "attempt": plan.attempt,
        "parent_job_id": plan.parent_job_id,
        "sweep_id": plan.sweep_id,
        "project": {**plan.project, "env": plan.env},
    }
