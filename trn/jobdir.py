"""The job-dir contract: what lies in ``runs/YYYY/MM/DD/<job_id>/``, by name.

Every process that reads or writes a job dir (the CLI, the supervisor, the runner, the event
writer, the registry) goes through :class:`JobDir`, so the layout is written down once::

    job.json          the job record (atomic; the truth)
    config.yaml       the resolved config the runner runs
    launch.json       the leased allocation, written once just before the runner starts
    plan.json         the plan, for a supervisor in another process (detached)
    events.jsonl      this job's events
    runner.log        the runner's stdout and stderr (rank 0's, when there are several)
    runner.rankN.log  rank N's (N > 0) of a multi-task Slurm job, its host on the first line
    supervisor.log    a detached supervisor's stdout and stderr
    outcome.json      the runner's word on how it ended (state, metrics, checkpoint)
    code.patch        the project's uncommitted changes (git), or
    code.tar.gz       its source files (a project outside git)
    environment.json  versions, packages, devices, argv, masked env
    checkpoints/      *.ckpt + *.meta.json, latest.json and best.json
    ranks/N           a DDP job's rank N reached the rendezvous (its host): who never came
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, overload

from trn.handoff import BadFile, Outcome


class _File:
    """One file of a job dir (or of the home): on an instance, its path."""

    def __init__(self, name: str):
        self.name = name

    @overload
    def __get__(self, obj: None, owner: Any) -> _File: ...
    @overload
    def __get__(self, obj: JobDir | HomeDir, owner: Any) -> Path: ...
    def __get__(self, obj: JobDir | HomeDir | None, owner: Any) -> Path | _File:
        return self if obj is None else obj.path / self.name


class JobDir:
    """One job dir; its files by name (the dir need not exist yet)."""

    __slots__ = ("path",)

    RECORD = "job.json"
    CONFIG = "config.yaml"
    LAUNCH = "launch.json"
    PLAN = "plan.json"
    EVENTS = "events.jsonl"
    RUNNER_LOG = "runner.log"
    SUPERVISOR_LOG = "supervisor.log"
    OUTCOME = "outcome.json"
    CHECKPOINTS = "checkpoints"
    LATEST = "latest.json"  # in checkpoints/: the newest checkpoint's meta, by name
    BEST = "best.json"  # in checkpoints/: the best one's meta, by the objective
    CODE_PATCH = "code.patch"  # uncommitted changes of the project when the job was submitted
    CODE_SNAPSHOT = "code.tar.gz"  # a project outside git: its source files, with a manifest
    ENVIRONMENT = "environment.json"  # versions, packages, devices, argv, masked env

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JobDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def job_id(self) -> str:
        return self.path.name

    record = _File(RECORD)
    config = _File(CONFIG)
    launch = _File(LAUNCH)
    plan = _File(PLAN)
    events = _File(EVENTS)
    runner_log = _File(RUNNER_LOG)
    supervisor_log = _File(SUPERVISOR_LOG)
    outcome = _File(OUTCOME)
    checkpoints = _File(CHECKPOINTS)
    ranks = _File("ranks")

    def rank_log(self, rank: int) -> Path:
        """Rank ``rank``'s runner log: ``runner.log`` for rank 0, ``runner.rankN.log`` else."""
        return self.runner_log if rank == 0 else self.path / f"runner.rank{rank}.log"

    @property
    def latest(self) -> Path:
        return self.checkpoints / self.LATEST

    @property
    def best(self) -> Path:
        return self.checkpoints / self.BEST

    def read_outcome(self) -> Outcome | None:
        """The runner's ``outcome.json``; None if it left none. One that is not an outcome (a
        foreign or hand-edited file) counts as none, said in one line on stderr."""
        try:
            text = self.outcome.read_bytes()
        except OSError:
            return None
        try:
            return Outcome.from_json(text, str(self.outcome))
        except BadFile as err:
            print(f"trn: warning: ignoring {err}", file=sys.stderr)
            return None


# A sweep dir (``sweeps/YYYY/MM/DD/<sweep_id>/``): its events file has a job dir's name
# (:attr:`JobDir.EVENTS`); the rest is its own.
SWEEP_STATE = "sweep.json"  # {sweep_id, sweep_dir, pid, host, jobs, attempts}: who runs it
SWEEP_REQUEST = "request.json"  # a detached sweep's overrides, for its process
SWEEP_SUMMARY = "summary.json"  # the sweep's summary, once it (its latest attempt) ended
SWEEP_SPACE = "space.json"  # what it sweeps and its base config: a resume compares them
SWEEP_LOG = "sweep.log"  # a detached sweep's output
SWEEP_TRIALS = "trials.jsonl"  # early stopping's reports of every trial (sweep.early_stop)


class HomeDir:
    """``$TRN_HOME``: its dirs and files by name (the dir need not exist yet)::

        runs/YYYY/MM/DD/<job_id>/     job dirs (:class:`JobDir`)
        sweeps/YYYY/MM/DD/<sweep_id>/ sweep dirs
        jobs/index.jsonl              one line per job that reached a terminal state
        events.jsonl                  every job's events (``events.global``)
        index.db                      the SQLite cache of the records (``trn reindex``)
        leases/                       device leases between trn processes
        trash/                        what ``trn gc`` is deleting
        warm/                         the warm parents' logs
        cache/datasets/               the shard files whose checksums matched
        serve.token                   ``trn serve``'s token (mode 0600)

    Every process that reads or writes under ``$TRN_HOME`` names it through here.
    """

    __slots__ = ("path",)

    RUNS = "runs"
    SWEEPS = "sweeps"
    MANIFEST = "jobs/index.jsonl"
    EVENTS = "events.jsonl"
    INDEX = "index.db"
    LEASES = "leases"
    TRASH = "trash"
    WARM = "warm"
    DATASET_CACHE = "cache/datasets"
    SERVE_TOKEN = "serve.token"

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"HomeDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    runs = _File(RUNS)
    sweeps = _File(SWEEPS)
    manifest = _File(MANIFEST)
    events = _File(EVENTS)
    index = _File(INDEX)
    leases = _File(LEASES)
    trash = _File(TRASH)
    warm = _File(WARM)
    dataset_cache = _File(DATASET_CACHE)
    serve_token = _File(SERVE_TOKEN)

    def sweep_dirs(self, pattern: str = "*") -> list[Path]:
        """The sweep dirs whose id matches ``pattern`` (a glob), in no order."""
        return [p for p in self.sweeps.glob(f"*/*/*/{pattern}") if p.is_dir()]
