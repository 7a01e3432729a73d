"""``hydra/launcher=slurm``: each sweep job a Slurm job, submitted with submitit.

The launcher plans each job like ``trn run`` and submits it through the backend
(:meth:`Slurm.submit <trn.lifecycle.backends.slurm.Slurm.submit>`: record ``submitted`` with
backend ``slurm`` and ``extra.slurm_job_id``, ``job_submitted``), then waits for them all.
:mod:`.node` runs inside each allocation. Ctrl-C cancels the Slurm jobs; a job Slurm dropped is
ended here.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn

from trn.errors import FailedFast, JobFailed, UsageError
from trn.lifecycle.backends.slurm import SLURM, Submitted
from trn.lifecycle.backends.slurm.queue import queued, scancel
from trn.lifecycle.end import end_job
from trn.lifecycle.supervisor import GRACE_S
from trn.proc import catching
from trn.registry.record import LIVE, JobRecord

# after a cancel, how long the jobs' runners may take to save and their supervisors to end the
# jobs before Slurm is told to end them outright
KILL_AFTER_S = GRACE_S + 30.0
# how long a Slurm job may outlive the trn job it ran (its ranks' processes ending) before it is
# cancelled; twice that, and the sweep stops waiting for it
LINGER_S = 30.0


@dataclass(frozen=True)
class SweepSlurmJob:
    """One job of the batch: its number in the sweep, its overrides, and the submission."""

    num: int
    overrides: list[str]
    submitted: Submitted

    @property
    def job_dir(self) -> Path:
        return Path(self.submitted.record.job_dir)

    @property
    def slurm(self) -> Any:  # submitit.Job
        return self.submitted.slurm


def launch(launcher: Any, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
    from trn.lifecycle.sweep_job import SweepTask

    task = launcher.task_function
    if not isinstance(task, SweepTask):
        raise UsageError(
            "hydra/launcher=slurm runs trn jobs (`trn run -m`); for other Hydra "
            "apps use hydra/launcher=submitit_slurm"
        )
    folder = Path(str(launcher.config.hydra.sweep.dir)) / ".submitit"
    jobs = [
        _submit(task, launcher.params, list(ov), initial_job_idx + i, folder)
        for i, ov in enumerate(job_overrides)
    ]
    failed: list[tuple[str, str]] = []
    watch = (lambda: _first_failure(jobs, failed)) if task.fail_fast else None
    interrupted = _wait(jobs, float(launcher.params.get("poll_s") or 2.0), watch)
    returns = [_job_return(job, interrupted) for job in jobs]
    if failed:
        raise FailedFast(*failed[0])
    if interrupted:
        raise KeyboardInterrupt
    return returns


def _first_failure(jobs: list[SweepSlurmJob], failed: list[tuple[str, str]]) -> bool:
    """``--fail-fast``: True (cancel the rest) once a job of the batch has failed."""
    from trn.registry.store import Registry
    from trn.text import cause

    for job in jobs:
        record = Registry.read(Path(job.job_dir))
        if record.get("state") == "failed" and not failed:
            failed.append((record["job_id"], cause(record.get("error"))))
    return bool(failed)


def _submit(
    task: Any, params: dict[str, Any], overrides: list[str], num: int, folder: Path
) -> SweepSlurmJob:
    """Plan one point of the sweep (as ``trn run`` would, if the sweeper did not) and submit it
    through the Slurm backend."""
    from trn.launcher.task import detached_hydra
    from trn.lifecycle.sweep_job import make_echo

    point = task.point(overrides)
    plan = point.plan
    if plan is None:
        from trn.lifecycle.planning import make_plan

        with detached_hydra():
            plan = make_plan(overrides, home=task.home, config_dir=task.config_dir)
    plan = replace(plan, sweep_id=task.sweep_id, sweep_num=num, sweep_point=point.index)
    echo = make_echo(sys.stderr if task.to_stderr else sys.stdout, num)
    return SweepSlurmJob(num, overrides, SLURM.submit(plan, params, folder, echo))


def _wait(jobs: list[SweepSlurmJob], poll_s: float, failed: Any = None) -> bool:
    """Until every Slurm job has left the queue; True if they were cancelled. Ctrl-C/SIGTERM
    cancels them all (each job's runners save and stop), and so does ``failed()`` turning true
    (``--fail-fast``). A second Ctrl-C, or jobs still queued ``KILL_AFTER_S`` after the cancel,
    has Slurm end them at once: the sweep never waits on a job that does not stop."""
    from trn.registry.store import Registry

    signals: list[int] = []
    ended: dict[str, float] = {}  # Slurm job id: when its trn job was first seen ended
    cancelled_at: float | None = None
    killed, gone = False, 0
    with catching((signal.SIGINT, signal.SIGTERM), signals.append):
        while True:
            if cancelled_at is None and (signals or (failed is not None and failed())):
                cancelled_at = time.monotonic()
                for job in jobs:
                    SLURM.cancel_in_slurm(Registry.load(job.job_dir))
            late = cancelled_at is not None and time.monotonic() - cancelled_at > KILL_AFTER_S
            if not killed and (len(signals) > 1 or late):
                killed = True
                for job in jobs:
                    scancel(job.slurm.job_id)
                if len(signals) > 1:  # the user insists: their records end here, cancelled
                    return True
            try:
                active = queued([job.slurm.job_id for job in jobs])
            except OSError:  # slurmctld busy or restarting: look again
                active = {"?": "UNKNOWN"}
            active = _lingering(jobs, active, ended)
            gone = 0 if active else gone + 1
            if gone >= 2:  # twice out of the queue: ended (sacct may be off: not asked)
                return cancelled_at is not None
            time.sleep(poll_s)


def _lingering(
    jobs: list[SweepSlurmJob], active: dict[str, str], ended: dict[str, float]
) -> dict[str, str]:
    """``active`` less the Slurm jobs that only linger: their trn job has ended (its supervisor
    ended it) but Slurm still holds them, as when a node died under a rank: Slurm notices only
    after its own timeout (minutes). ``LINGER_S`` after the end they are cancelled, and one
    then completing (killing what is left on a node that may never answer) is not waited on."""
    from trn.registry.record import TERMINAL
    from trn.registry.store import Registry

    left = dict(active)
    for job in jobs:
        slurm_id = str(job.slurm.job_id)
        if slurm_id not in active:
            continue
        state = Registry.read(Path(job.job_dir)).get("state")
        if state not in TERMINAL or state == "preempted":  # preempted: Slurm requeues it
            continue
        since = ended.setdefault(slurm_id, time.monotonic())
        if active[slurm_id] == "COMPLETING" or time.monotonic() - since > 2 * LINGER_S:
            left.pop(slurm_id)
        elif time.monotonic() - since > LINGER_S:
            scancel(slurm_id)
    return left


def _job_return(job: SweepSlurmJob, cancelled: bool) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    from trn.launcher.task import objective_of

    ret = JobReturn(overrides=job.overrides, task_name="trn")
    record = final_record(job, cancelled)
    try:
        ret._return_value, ret.status = (
            objective_of(JobRecord.from_dict(record)),
            JobStatus.COMPLETED,
        )
    except JobFailed as err:
        ret._return_value, ret.status = err, JobStatus.FAILED
    return ret


def final_record(job: SweepSlurmJob, cancelled: bool = False) -> dict[str, Any]:
    """The record the Slurm job returned (a resumed job's, after a requeue); else the one on
    disk, ended here as failed if Slurm dropped the job before it could end it. Called once
    the job has left the queue: it never waits."""
    from trn.registry.store import Registry

    result = _task0_result(job.slurm)
    if isinstance(result, dict):
        return result
    record = Registry.read(Path(job.job_dir))
    if record["state"] in LIVE and cancelled:
        reason = "the sweep was cancelled (Ctrl-C/SIGTERM)"
        record = end_job(JobRecord.from_dict(record), "cancelled", reason=reason)
    elif record["state"] in LIVE:
        stderr = job.slurm.paths.stderr
        why = f"the Slurm job ended without a result; see {stderr}"
        record = end_job(JobRecord.from_dict(record), "failed", reason=why)
    return record


def _task0_result(slurm_job: Any) -> Any:
    """What task 0 (the supervisor's) returned, if it wrote its result; else None. Read from
    its pickle: submitit's ``result()`` waits for every task's result, and a task that died
    of a signal writes none, nor can ``sacct`` (often off) tell that it never will."""
    from submitit.core.utils import pickle_load

    try:
        outcome, value = pickle_load(slurm_job.task(0).paths.result_pickle)
    except Exception:  # noqa: BLE001 - none, torn or unreadable: the record on disk says
        return None
    return value if outcome == "success" else None
