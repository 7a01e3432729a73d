"""The plan: everything a job needs, decided before anything is started.

A :class:`Plan` is frozen: once made it is changed only through :func:`dataclasses.replace`,
and it crosses every process boundary (a detached supervisor, a sweep's job process, a Slurm
task) as JSON (:meth:`Plan.to_json` / :meth:`Plan.from_json`), never as a pickle.
:mod:`trn.lifecycle.planning` makes one; :mod:`trn.lifecycle.supervisor` carries it out.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from trn.devices import Allocation
from trn.handoff import PLAN_SCHEMA, checked

RUNNER_MODULE = "trn.runner"


@dataclass(frozen=True)
class Plan:
    config: dict[str, Any]
    overrides: list[str]
    allocation: Allocation
    home: Path
    attempt: int = 1
    parent_job_id: str | None = None
    sweep_id: str | None = None
    sweep_num: int | None = None  # the job's number in its sweep (JobRecord.sweep_num)
    sweep_point: int | None = None  # the sweep point it runs (JobRecord.sweep_point)
    env: dict[str, str] = field(default_factory=dict)
    runner: str = RUNNER_MODULE  # the module run as ``python -m RUNNER JOB_DIR``
    backend: str = "local"  # who runs the job's processes (trn.lifecycle.backends)
    rerun_of: str | None = None  # the job whose resolved config this one runs again
    project: dict[str, str | None] = field(default_factory=dict)  # Project.to_record()
    mlflow_run_id: str | None = None  # the MLflow run a resume continues (its parent's)
    kind: str = "train"  # or "eval": trn eval, the runner tests a checkpoint (trn.runner.stages)
    evaluates: dict[str, Any] | None = None  # an eval's {checkpoint (a meta), stage, job_id}
    hosts: list[str] = field(default_factory=list)  # a Slurm job's nodes, once it runs on them

    def command(self, job_dir: Path | str = "JOB_DIR") -> list[str]:
        return [sys.executable, "-m", self.runner, str(job_dir)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "the plan") -> Plan:
        """The plan in ``text``; :class:`trn.handoff.BadFile` (one line naming ``what``, the
        file, and the field) if it is not one (``trn/schemas/plan.schema.json``)."""
        data = checked(text, PLAN_SCHEMA, what)
        names = {f.name for f in fields(Allocation)}
        allocation = Allocation(**{k: v for k, v in data.pop("allocation").items() if k in names})
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        return cls(**{**data, "allocation": allocation, "home": Path(data["home"])})


def check_data(
    config: dict[str, Any], root: Path | str | None = None, home: Path | None = None
) -> None:
    """Check a trn dataset's index and shard files now, before any job dir exists; a relative
    path is from ``root``, the project root its runner will work in; the files checked are
    remembered in ``home`` (default ``$TRN_HOME``)."""
    data = config.get("data") or {}  # none: the module feeds itself
    if data.get("_target_") != "trn.data.datamodule.ShardDataModule" or "path" not in data:
        return
    from trn.data.index import resolve_dataset
    from trn.data.verify import check_dataset

    check_dataset(resolve_dataset(data["path"], root), home=home)


def describe(plan: Plan) -> dict[str, Any]:
    """The plan as ``trn run --dry-run`` prints it."""
    from trn.runner.usermodule import summary

    return {
        # a LightningModule, or an nn.Module in a task
        "training": summary(plan.config, plan.project.get("project_root")),
        "config": plan.config,
        "overrides": plan.overrides,
        "devices": plan.allocation.device_ids,
        "trainer": plan.allocation.trainer_kwargs(),
        "env": plan.allocation.env,
        "command": plan.command(),
        "trn_home": str(plan.home),
        "resume": plan.config.get("resume"),
        "weights": plan.config.get("weights"),
        "attempt": plan.attempt,
        "parent_job_id": plan.parent_job_id,
        "sweep_id": plan.sweep_id,
        "project": {**plan.project, "env": plan.env},
        **({"kind": plan.kind, "evaluates": plan.evaluates} if plan.kind != "train" else {}),
    }
