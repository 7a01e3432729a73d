"""The job record and its lifecycle."""

from __future__ import annotations

import enum
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from trn import proc
from trn.timestamps import seconds
from trn.timestamps import utc_now as utc_now  # re-exported: record writers stamp with it


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
        """The record as JSON (``job.json``, the index's rows, the manifest's lines)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRecord:
        """A record from its JSON. Records outlive the code that wrote them: a key this version
        does not know is dropped, a field the row lacks (written before it existed) takes its
        default, and so does a collection stored as null. ``ValueError`` if it is not a job
        record at all (no ``job_id``/``job_dir``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"not a job record: a JSON {type(data).__name__}, not an object")
        for key in ("job_id", "job_dir"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"not a job record: no {key}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data and not (data[f.name] is None and f.name in _COLLECTIONS):
                values[f.name] = data[f.name]
        values["backend"] = _backend_of_row(data)
        return cls(**values)


# fields whose default is an empty list or dict: a row that stored null for one still gets one
_COLLECTIONS = frozenset(f.name for f in fields(JobRecord) if f.default_factory in (list, dict))


@dataclass(frozen=True)
class JobView:
    """A job as shown: its record as stored (the truth a process wrote) and what is said of it
    now. ``state`` is the record's, or ``lost`` when nobody will end the job (its supervisor is
    gone, its heartbeat stale); ``details`` is what the job's backend itself says (for instance
    Slurm's queue state). A view is never written back: the record stays what was stored."""

    record: JobRecord
    state: str
    details: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The job as users and the HTTP API see it: the record's JSON with the state shown
        (``lost`` where it is) and the backend's details beside it (``slurm_state``)."""
        return {**self.record.to_dict(), "state": self.state, **self.details}


def view(record: JobRecord) -> JobView:
    """The job as shown, as far as the record itself tells (:func:`effective_state`); a
    backend's ``describe`` adds what only it knows."""
    return JobView(record, effective_state(record))


def _backend_of_row(row: Mapping[str, Any]) -> str:
    """A row's ``backend``; one written before there was one is Slurm's if it names a Slurm
    job, else local."""
    if row.get("backend"):
        return str(row["backend"])
    extra = row.get("extra")
    return "slurm" if isinstance(extra, Mapping) and extra.get("slurm_job_id") else "local"


def backend_name(record: JobRecord) -> str:
    """Who runs the record's job: ``local`` or ``slurm`` (:mod:`trn.lifecycle.backends`)."""
    return record.backend or ("slurm" if record.extra.get("slurm_job_id") else "local")


def effective_state(record: JobRecord) -> str:
    """The state to show: a running/submitted job whose supervisor is gone on this host is lost,
    and so is a running job (on any host) whose heartbeat is stale."""
    if record.state in LIVE:
        same_host = record.host == socket.gethostname()
        if same_host and record.pid and not proc.alive(record.pid, record.pid_start):
            return JobState.LOST.value
        if record.state == JobState.RUNNING.value and heartbeat_stale(record):
            return JobState.LOST.value
    return str(record.state)


def heartbeat_stale(record: JobRecord, now: float | None = None) -> bool:
    """No heartbeat for ``stale_after(heartbeat_s)`` seconds (only once a first one came)."""
    beat, every = record.heartbeat_at, record.heartbeat_s
    if not beat or not every:
        return False
    from trn.events.heartbeat import stale_after

    at = seconds(beat)
    if at is None:
        return False
    return (time.time() if now is None else now) - at > stale_after(float(every))
