"""The job record and its lifecycle."""

from __future__ import annotations

import enum
import socket
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from trn import proc
from trn.timestamps import seconds, utc_now


class JobState(str, enum.Enum):
    """Lifecycle of a job::

        submitted ──> running ──> completed | failed | cancelled | preempted | pruned
                         └──────> lost   (marked running, but its process is gone or its heartbeat stale)

    ``pruned``: a sweep's early stopping (``sweep.early_stop``) ended a trial that fell behind
    at a rung; it stopped with a checkpoint, so ``trn resume`` can continue it.

    A resumed job is a new job whose record points at its parent (``attempt`` + 1). The sets
    below are the one definition of which states are live, terminal and ended.
    """

    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    PRUNED = "pruned"
    LOST = "lost"


# Plain strings (a JobState compares equal to its value): records hold the text.
TERMINAL = frozenset(
    s.value
    for s in (
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.PREEMPTED,
        JobState.PRUNED,
    )
)
# ended, and stopped with a checkpoint that `trn resume` continues (pruned: with --include-pruned)
RESUMABLE = frozenset((JobState.CANCELLED.value, JobState.PREEMPTED.value, JobState.LOST.value))
LIVE = frozenset((JobState.SUBMITTED.value, JobState.RUNNING.value))  # a process owns the record
ENDED = TERMINAL | {JobState.LOST.value}  # where a waiter stops: nobody will end a lost job
STATES = [s.value for s in JobState]


@dataclass
class JobRecord:
    job_id: str
    job_dir: str
    state: str = JobState.SUBMITTED.value
    attempt: int = 1
    parent_job_id: str | None = None
    sweep_id: str | None = None
    sweep_num: int | None = None  # the job's number in its sweep: unique, continued by a resume
    sweep_point: int | None = None  # which point of the sweep it runs (Optuna: the trial number)
    name: str | None = None
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    ended_at: str | None = None
    host: str = field(default_factory=socket.gethostname)  # the supervisor's (Slurm: task 0's)
    hosts: list[str] = field(default_factory=list)  # every node a multi-node job's ranks ran on
    pid: int | None = None  # the supervisor: the process that owns the job until it ends
    # when the supervisor started (trn.proc.start_time): a later process given its pid is not it
    pid_start: str | None = None
    runner_pid: int | None = None
    devices: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    config_path: str | None = None
    exit_code: int | None = None
    error: str | None = None
    pruned: dict[str, Any] | None = None  # early stopping's decision (trn.registry.early_stop)
    # what best checkpoints and sweeps rank it by: {metric, mode, source}; at first its config's,
    # then the runner's job_started says where it came from: config (the user's or the
    # project's), default (trn's, nobody chose it) or fallback (the default was never logged;
    # this is the first of val/loss, val/acc, ... that is)
    objective: dict[str, Any] | None = None
    stop_reason: str | None = None  # why a completed job stopped early (early stopping, max_time)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None  # the newest committed .meta.json
    warnings: list[str] = field(default_factory=list)
    heartbeat_at: str | None = None  # ts of the runner's last heartbeat event
    heartbeat_s: float | None = None  # its period; None: no heartbeats, never stale
    code: dict[str, Any] | None = None  # git state of the project (trn.provenance.code)
    rerun_of: str | None = None  # the job whose resolved config this one re-ran
    resume_exact: bool | None = None  # does resuming replay the data exactly (trn's datasets)
    mlflow_run_id: str | None = None  # logger=mlflow: the run it logs to; a resume continues it
    extra: dict[str, Any] = field(default_factory=dict)  # launcher-specific (e.g. slurm_job_id)
    start: str | None = None  # how the runner started: warm (forked, trn.warm) or cold
    startup_s: float | None = None  # from asking for the runner to its first training step
    backend: str = "local"  # who runs the job's processes (trn.lifecycle.backends): local, slurm
    # the user's project (trn.config.project): config_dir, project_root; resume finds it again
    project: dict[str, str | None] = field(default_factory=dict)
    kind: str = "train"  # train (trn run, resume, rerun) or eval (trn eval: a checkpoint tested)
    evaluates: dict[str, Any] | None = None  # an eval job's {checkpoint, stage, job_id}
    # threads per process and where the count came from (trn.devices.threads): count, source, why
    threads: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        known.discard("backend")
        return cls(**{k: v for k, v in data.items() if k in known}, backend=backend_name(data))


@dataclass(frozen=True)
class JobView:
    """A job as shown: its record as stored (the truth a process wrote) and what is said of it
    now. ``state`` is the record's, or ``lost`` when nobody will end the job (its supervisor is
    gone, its heartbeat stale); ``details`` is what the job's backend itself says (for instance
    Slurm's queue state). A view is never written back: the record stays what was stored."""

    record: JobRecord
    state: str
    details: dict[str, Any] = field(default_factory=dict)


def backend_name(record: dict[str, Any]) -> str:
    """The record's ``backend``; a record written before there was one is Slurm's if it names
    a Slurm job, else local."""
    if record.get("backend"):
        return str(record["backend"])
    return "slurm" if (record.get("extra") or {}).get("slurm_job_id") else "local"


def effective_state(record: dict[str, Any]) -> str:
    """The state to show: a running/submitted job whose supervisor is gone on this host is lost,
    and so is a running job (on any host) whose heartbeat is stale."""
    state = record.get("state")
    if state in LIVE:
        same_host = record.get("host") == socket.gethostname()
        pid, started = record.get("pid"), record.get("pid_start")
        if same_host and pid and not proc.alive(pid, started):
            return JobState.LOST.value
        if state == JobState.RUNNING.value and heartbeat_stale(record):
            return JobState.LOST.value
    return str(state)


def heartbeat_stale(record: dict[str, Any], now: float | None = None) -> bool:
    """No heartbeat for ``stale_after(heartbeat_s)`` seconds (only once a first one came)."""
    beat, every = record.get("heartbeat_at"), record.get("heartbeat_s")
    if not beat or not every:
        return False
    from trn.events.heartbeat import stale_after

    at = seconds(beat)
    if at is None:
        return False
    return (time.time() if now is None else now) - at > stale_after(float(every))
