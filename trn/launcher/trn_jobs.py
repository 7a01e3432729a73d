"""trn jobs under ``hydra/launcher=trn``: a spec per job for the task's job process, and the
:class:`JobReturn` built from the record it leaves (the objective, or why it failed).

A job that ``trn run -m`` already planned while checking the sweep passes that plan on (the
job process only re-previews its devices inside its slot); any other job (Optuna's, say) is
planned by the job process itself.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from trn.handoff import SweepJobSpec, job_command
from trn.launcher.batch import Batch, failed_return, sweep_config, why
from trn.launcher.pool import Pool, slots_needed
from trn.launcher.scheduler import Outcome, WorkItem


def prepare(
    launcher: Any, overrides: list[str], num: int, tmp: Path, pool: Pool
) -> tuple[WorkItem, Batch]:
    from omegaconf import OmegaConf

    task = launcher.task_function
    point = task.point(overrides)
    plan = point.plan
    plan_file = None
    if plan is not None:
        plan_file = tmp / f"{num}.plan.json"
        plan_file.write_text(plan.to_json())
        cfg = OmegaConf.create(plan.config)
        devices = plan.config.get("devices")
    else:
        cfg = sweep_config(launcher, overrides, num)
        devices = cfg.get("devices")
    spec = SweepJobSpec(
        overrides=list(overrides),
        result=str(_result(tmp, num)),
        submitted=str(_submitted(tmp, num)),
        sweep_id=task.sweep_id,
        home=str(task.home),
        config_dir=str(task.config_dir) if task.config_dir else None,
        num=num,
        point=point.index,
        stderr=bool(task.to_stderr),
        plan=str(plan_file) if plan_file else None,
    )
    (tmp / f"{num}.json").write_text(spec.to_json())
    argv = job_command(task.job_verb, tmp / f"{num}.json")
    job = WorkItem(num, argv, need=slots_needed(devices, pool), env={"TRN_HOME": str(task.home)})
    job.on_exit = functools.partial(task.reap, _submitted(tmp, num))  # killed: end its job here
    return job, (overrides, cfg)


def collect(item: Batch, out: Outcome, tmp: Path) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    from trn.errors import JobFailed
    from trn.launcher.task import objective_of
    from trn.registry.record import JobRecord

    overrides, cfg = item
    try:
        data = json.loads(_result(tmp, out.index).read_text())
    except (OSError, ValueError):
        data = _ended_record(_submitted(tmp, out.index)) or {"error": why(out)}
    if "record" not in data:
        return failed_return(overrides, cfg, data.get("error") or why(out))
    ret = JobReturn(overrides=overrides, cfg=cfg, task_name="trn")
    try:
        value = objective_of(JobRecord.from_dict(data["record"]))
        ret._return_value, ret.status = value, JobStatus.COMPLETED
    except JobFailed as err:
        ret._return_value, ret.status = err, JobStatus.FAILED
    return ret


def _result(tmp: Path, num: int) -> Path:
    """Where job ``num``'s process writes its result (:attr:`SweepJobSpec.result`)."""
    return tmp / f"{num}.result"


def _submitted(tmp: Path, num: int) -> Path:
    """Where job ``num``'s process writes its record once it exists (the reaper's clue)."""
    return tmp / f"{num}.job"


def _ended_record(submitted: Path) -> dict[str, Any] | None:
    """A job process that died leaves no result, but its job may still have ended well: the
    reaper ends it from the runner's own outcome. Hydra's sweeper then gets that record."""
    from trn.registry.record import TERMINAL
    from trn.registry.store import Registry

    try:
        record = Registry.read(Path(json.loads(submitted.read_text())["job_dir"]))
    except (OSError, ValueError, KeyError):
        return None
    return {"record": record} if record.get("state") in TERMINAL else None


def failure(tmp: Path, index: int) -> tuple[str, str] | None:
    """``(job id, cause)`` when job ``index`` of the batch failed (``--fail-fast`` stops the
    sweep on it); None when it completed, was cancelled, pruned or preempted."""
    from trn.text import cause

    try:
        data = json.loads(_result(tmp, index).read_text())
    except (OSError, ValueError):
        data = _ended_record(_submitted(tmp, index)) or {}
    record = data.get("record")
    if record is None:
        return (f"#{index}", cause(data.get("error"))) if data.get("error") else None
    if record.get("state") != "failed":
        return None
    return str(record["job_id"]), cause(record.get("error"))


def fail_fast(job: WorkItem, tmp: Path, stop: Any) -> None:
    """Chain onto the job's exit: a failure calls ``stop(job_id, cause)``."""
    reap = job.on_exit

    def on_exit(rc: int | None, cancelled: bool) -> None:
        if reap is not None:
            reap(rc, cancelled)
        failed = None if cancelled else failure(tmp, job.index)
        if failed:
            stop(*failed)

    job.on_exit = on_exit
