"""``trn resume SWEEP``: continue an interrupted, cancelled or lost sweep where it stopped.

Every point of the sweep is looked at through its newest job (``sweep_point`` in the record):
a completed one is kept; a preempted, cancelled or lost one resumes from its newest checkpoint
(:func:`trn.lifecycle.resume.plan_resume`, as ``trn resume JOB`` does; from scratch when it has
none); a pruned one only with ``include_pruned``, a failed one is run again only with
``retry_failed``; a point never started starts. An Optuna sweep continues its study toward the
original ``n_trials`` (:mod:`trn.launcher.optuna`). Before anything starts, the sweep's search
space and base config are compared with what it started with (``space.json``): a change is
refused, naming it, unless ``force``. The jobs are numbered on from the sweep's last one, and
the attempt's Hydra files go to ``attempt-N/`` in the sweep dir: nothing is overwritten.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trn import proc
from trn.errors import NotFound, NothingToDo, UsageError
from trn.jobdir import SWEEP_SPACE, SWEEP_STATE
from trn.launcher.task import Point, objective_of
from trn.lifecycle import expand
from trn.lifecycle.sweep import Attempt
from trn.registry.record import LIVE, RESUMABLE, JobRecord, JobState, view
from trn.registry.sweeps import (
    SweepSpace,
    attempts,
    find_sweep,
    no_sweep,
    sweep_end,
    sweep_started,
)

IGNORED_KEYS = ("resume", "weights", "allow_targets")  # not what a sweep sweeps or starts from


@dataclass(frozen=True)
class ResumeOptions:
    retry_failed: bool = False  # run failed points again (from scratch)
    include_pruned: bool = False  # continue pruned trials to the end
    force: bool = False  # accept a changed search space or base config


@dataclass
class SweepResume:
    """A sweep to resume and what its next attempt launches."""

    sweep_id: str
    sweep_dir: Path
    overrides: list[str]
    config_dir: Path | None
    attempt: Attempt
    counts: dict[str, int]  # kept, resumed, started, rerun, skipped (failed, pruned)

    def describe(self) -> str:
        said = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v)
        return f"sweep {self.sweep_id} attempt {self.attempt.number}: {said}"


def plan_sweep_resume(home: Path, text: str, options: ResumeOptions | None = None) -> SweepResume:
    """What resuming the sweep ``text`` (an id or a unique prefix) runs. Every refusal comes
    before anything is written; past them, the jobs the dead sweep left live are ended (so
    that their points are judged by how they really ended)."""
    from trn.config.project import using

    options = options or ResumeOptions()
    sweep_dir = find_sweep(home, text)
    if sweep_dir is None:
        raise no_sweep(home, text)
    space = _space(sweep_dir)
    _check_not_running(sweep_dir)
    config_dir = Path(space.config_dir) if space.config_dir else None
    with using(config_dir):
        checked = expand.check(list(space.overrides), home, config_dir)
    if not options.force:
        _compare(sweep_dir.name, space, checked)
    from trn.registry.store import Registry

    records = [_settle(r) for r in Registry(home).list(sweep_id=sweep_dir.name, limit=None)]
    number = len(attempts(sweep_dir)) + 1
    nums = [r.sweep_num for r in records if r.sweep_num is not None]
    first_num = max(1 + max(nums, default=-1), len(records))  # never a number used before
    if checked.sweeper == "optuna":
        optuna, counts = _optuna(sweep_dir, records, options, home)
        attempt = Attempt(checked, [], number, first_num, optuna)
    else:
        points, counts = _points(checked, records, options, home, sweep_dir.name)
        attempt = Attempt(checked, points, number, first_num)
    if not attempt.points and not (attempt.optuna and attempt.optuna.has_work()):
        said = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no jobs"
        hint = "; --retry-failed reruns the failed ones" if counts.get("failed") else ""
        hint += "; --include-pruned continues the pruned ones" if counts.get("pruned") else ""
        raise NothingToDo(f"sweep {sweep_dir.name} has nothing left to do ({said}){hint}")
    return SweepResume(
        sweep_dir.name, sweep_dir, list(space.overrides), config_dir, attempt, counts
    )


def _space(sweep_dir: Path) -> SweepSpace:
    """What the sweep started with; a dir without it (or without its start) cannot resume."""
    space = SweepSpace.read(sweep_dir)
    if space is None or not space.overrides or not sweep_started(sweep_dir):
        raise UsageError(
            f"sweep {sweep_dir.name} cannot be resumed: its dir {sweep_dir} is incomplete "
            f"(no {SWEEP_SPACE} or sweep_started event); start it again with `trn run -m`"
        )
    return space


def _check_not_running(sweep_dir: Path) -> None:
    try:
        state = json.loads((sweep_dir / SWEEP_STATE).read_text())
    except (OSError, ValueError):
        state = {}
    if sweep_end(sweep_dir) is not None:
        return
    pid, host = state.get("pid"), state.get("host")
    if host and host != socket.gethostname():
        raise UsageError(
            f"sweep {sweep_dir.name} was started on host {host} and has not ended; "
            "resume it there (or `trn cancel` it there first)"
        )
    alive = proc.alive(int(pid or 0), state.get("pid_start"))
    if pid and int(pid) != os.getpid() and alive:  # not the detached resume
        raise UsageError(
            f"sweep {sweep_dir.name} is running (pid {pid}); stop it first "
            f"(trn cancel {sweep_dir.name}), then resume it"
        )


def _compare(sweep_id: str, space: SweepSpace, checked: expand.Checked) -> None:
    """A sweep resumes over the space and config it started with; name what changed."""
    changes = []
    if checked.jobs is not None and space.points != checked.jobs:
        was, now = len(space.points or []), len(checked.jobs)
        changes.append(f"its search space ({was} points then, {now} now)")
    if space.config is not None and checked.base is not None:
        diff = _diff(_flat(space.config), _flat(checked.base))
        if diff:
            shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff[:3])
            more = f" and {len(diff) - 3} more" if len(diff) > 3 else ""
            changes.append(f"its base config ({shown}{more})")
    if changes:
        raise UsageError(
            f"sweep {sweep_id} changed since it started: {'; '.join(changes)}; "
            "resume it with --force to accept that, or start a new sweep"
        )


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(config, dict):
        out: dict[str, Any] = {}
        for key, value in config.items():
            if not prefix and key in IGNORED_KEYS:
                continue
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): config}


def _diff(was: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(was) | set(now))
    return [(k, was.get(k), now.get(k)) for k in keys if was.get(k) != now.get(k)]


def _settle(record: JobRecord) -> JobRecord:
    """A job the dead sweep left live is ended first (a runner still alive is asked to save
    and stop), so that a resume never runs a point twice. A job still alive elsewhere (a
    Slurm job still queued or running) refuses the resume."""
    from trn.lifecycle.backends import backend_of
    from trn.lifecycle.end import REAP_WAIT_S, end_job, stop_runner

    backend = backend_of(record)
    state = view(record).state
    if state not in LIVE and state != JobState.LOST.value:
        return record
    if state in LIVE and backend.name == "slurm":
        if _in_slurm(backend.handle(record)):
            raise UsageError(
                f"job {record.job_id} of the sweep is still in Slurm's queue; wait for it "
                f"or `trn cancel {record.job_id}`, then resume the sweep"
            )
    elif state in LIVE:
        raise UsageError(
            f"job {record.job_id} of the sweep is still {state} (its supervisor, "
            f"pid {record.pid}, is alive); stop it first (trn cancel {record.job_id})"
        )
    runner = record.runner_pid
    if runner and record.host == socket.gethostname() and proc.alive(runner):
        import signal

        stop_runner(runner, signal.SIGTERM, REAP_WAIT_S)
    reason = "its sweep's process was lost; ended by `trn resume` of the sweep"
    end_job(record, "preempted", reason=reason)
    return record


def _in_slurm(handle: str | None) -> bool:
    """Whether Slurm still has the job (queued or running; unsure counts as yes)."""
    if not handle:
        return False
    import subprocess

    from trn.lifecycle.backends.slurm.queue import queued

    try:
        return handle in queued([handle])
    except (OSError, subprocess.SubprocessError):
        return True


def newest_by_point(records: list[JobRecord], jobs: list[list[str]] | None) -> dict[int, JobRecord]:
    """Each point's newest job: by ``sweep_point``, else (an older record) by its overrides."""
    index = {tuple(job): n for n, job in enumerate(jobs or [])}
    newest: dict[int, JobRecord] = {}
    for record in sorted(records, key=lambda r: r.job_id):
        point = record.sweep_point
        if point is None:
            point = index.get(tuple(record.overrides))
        if point is not None:
            newest[int(point)] = record
    return newest


def _points(
    checked: expand.Checked,
    records: list[JobRecord],
    options: ResumeOptions,
    home: Path,
    sweep_id: str,
) -> tuple[list[Point], dict[str, int]]:
    """A basic sweep's points left to run, each with its plan; what happens to each kind."""
    plans = checked.plans_by_overrides()
    newest = newest_by_point(records, checked.jobs)
    counts = dict.fromkeys(("kept", "resumed", "started", "rerun", "failed", "pruned"), 0)
    out = []
    for n, job in enumerate(checked.jobs or []):
        fresh = Point(n, list(job), plans.get(tuple(job)))
        record = newest.get(n)
        kind, point = classify(record, fresh, options, home, sweep_id)
        counts[kind] += 1
        if point is not None:
            out.append(point)
    return out, counts


def classify(
    record: JobRecord | None,
    fresh: Point,
    options: ResumeOptions,
    home: Path,
    sweep_id: str,
) -> tuple[str, Point | None]:
    """What a resume does with one point whose newest job is ``record``: its kind (kept,
    resumed, started, rerun, failed, pruned: left as they are) and the point to run, if any."""
    if record is None:
        return "started", fresh
    state = record.state  # settled: what the job ended as
    if state == "completed":
        return "kept", None
    if state in RESUMABLE:
        return "resumed", resume_point(record, fresh, home, sweep_id)
    if state == "pruned" and options.include_pruned:  # to its end: early stopping is done
        return "resumed", resume_point(record, fresh, home, sweep_id, ["sweep.early_stop=null"])
    if state == "failed" and options.retry_failed:
        return "rerun", fresh
    return ("pruned" if state == "pruned" else "failed"), None


def resume_point(
    record: JobRecord,
    fresh: Point,
    home: Path,
    sweep_id: str,
    overrides: list[str] | None = None,
) -> Point:
    """The point continuing ``record``'s newest checkpoint (its chain's); from scratch when
    there is none."""
    from trn.lifecycle.resume import plan_resume

    try:  # preempted after its last save: the resume has nothing to train and completes
        plan = plan_resume(
            record.job_id, overrides, home=home, sweep_id=sweep_id, allow_finished=True
        )
    except NotFound:
        return fresh
    plan = replace(plan, overrides=[*fresh.overrides, *plan.overrides])
    return Point(fresh.index, list(fresh.overrides), plan)


def _optuna(
    sweep_dir: Path,
    records: list[JobRecord],
    options: ResumeOptions,
    home: Path,
) -> tuple[Any, dict[str, int]]:
    """An Optuna sweep's study, finished where its trials' jobs tell (a job that completed
    while no sweep listened), resumed where they stopped; new trials up to ``n_trials``."""
    from optuna.trial import TrialState

    from trn.launcher.optuna import OptunaResume, load_study

    study = load_study(sweep_dir, sweep_dir.name)
    total = int(study.user_attrs.get("n_trials") or len(study.trials))
    resume = OptunaResume(left=max(0, total - len(study.trials)))
    counts = dict.fromkeys(("kept", "resumed", "started", "rerun", "failed", "pruned"), 0)
    newest = newest_by_point(records, None)
    for trial in study.trials:
        if trial.state not in (TrialState.RUNNING, TrialState.WAITING):
            counts["kept"] += 1
            continue
        record = newest.get(trial.number)
        # what the sweep would have told: the metric the job is ranked by (a fallback's too)
        value = objective_of(record) if record and record.state == "completed" else None
        if record and isinstance(value, int | float):
            resume.tell[trial.number] = float(value)
            counts["kept"] += 1
            continue
        kind, point = classify(record, Point(trial.number, []), options, home, sweep_dir.name)
        counts[kind] += 1
        if point is not None:
            resume.pending[trial.number] = point.plan
        else:
            resume.ended[trial.number] = "PRUNED" if kind == "pruned" else "FAIL"
    counts["new"] = resume.left
    return resume, counts
