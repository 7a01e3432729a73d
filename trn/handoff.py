"""The files one trn process writes for another, as frozen dataclasses.

Each crosses a process boundary as JSON (``to_json`` / ``from_json``, as :class:`Plan` does),
and each has a JSON Schema in ``trn/schemas/`` that ``from_json`` checks, so a torn, foreign or
hand-edited file is one line naming the file and the field, never a ``KeyError`` later on:

- :class:`Launch` (``launch.json``): what the supervisor leased for the job, for its runner
  (and, in a Slurm job over several nodes, the other nodes' runners);
- :class:`Outcome` (``outcome.json``): the runner's word on how the job ended, for the
  supervisor (or whoever ends the job: :func:`trn.lifecycle.end.end_job`);
- :class:`SweepJobSpec`: one job of a sweep, from the launcher to the job's process, naming
  the files that process writes back;
- :class:`SweepRequest` (a sweep dir's ``request.json``): what a detached sweep's process runs;
- a job's plan (:class:`trn.lifecycle.plan.Plan`, ``plan.json``), checked against
  :data:`PLAN_SCHEMA` here and read in the lifecycle.

Each process trn starts to host a job reads one of these as its spec: ``python -m trn.host VERB
SPEC`` (:mod:`trn.host`), whose command line :func:`job_command` alone builds.

A reader ignores keys it does not know (a newer trn may add some), and every field a file of
an older trn lacks has a default, so a job dir from before a change still reads.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from os import PathLike
from typing import Any, TypeVar

from trn.paths import schema_path

T = TypeVar("T")

OUTCOME_SCHEMA = "outcome.schema.json"
LAUNCH_SCHEMA = "launch.schema.json"
SWEEP_JOB_SCHEMA = "sweep-job.schema.json"
SWEEP_REQUEST_SCHEMA = "sweep-request.schema.json"
PLAN_SCHEMA = "plan.schema.json"

HOST_MODULE = "trn.host"  # python -m trn.host VERB SPEC: every process that hosts a job
DETACH_JOB = "detach-job"  # a detached job's supervisor; SPEC: its job dir's plan.json
DETACH_SWEEP = "detach-sweep"  # a detached sweep; SPEC: its sweep dir's request.json
SWEEP_JOB = "sweep-job"  # one job of a sweep, a process of its own; SPEC: a SweepJobSpec
JOB_VERBS = (DETACH_JOB, DETACH_SWEEP, SWEEP_JOB)


def job_command(verb: str, spec: str | PathLike[str]) -> list[str]:
    """The command line of the process that hosts a job as ``verb`` says, given its spec file
    (``spec``: a path); every place that starts one builds it here."""
    if verb not in JOB_VERBS:
        raise ValueError(f"no job process {verb!r}; one of {', '.join(JOB_VERBS)}")
    return [sys.executable, "-m", HOST_MODULE, verb, str(spec)]


class BadFile(ValueError):
    """A file one process wrote for another that does not have its shape; the message is one
    line naming what is wrong."""


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``trn/schemas/<name>``."""
    loaded: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return loaded


def checked(text: str | bytes, schema_name: str, what: str) -> dict[str, Any]:
    """``text`` parsed and checked against ``schema_name``; :class:`BadFile` (``what``: the
    file, e.g. ``outcome.json``) with the first problem, on one line."""
    import jsonschema

    try:
        data = json.loads(text)
    except ValueError as err:
        raise BadFile(f"{what}: not JSON ({err})") from None
    problem = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema(schema_name)).iter_errors(data)
    )
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path)
        message = problem.message.splitlines()[0][:200]
        raise BadFile(f"{what}: {where + ': ' if where else ''}{message}")
    return data if isinstance(data, dict) else {}


def _dump(obj: Any) -> str:
    return json.dumps(asdict(obj), indent=2, sort_keys=True) + "\n"


def _load(cls: type[T], text: str | bytes, schema_name: str, what: str) -> T:
    """``cls`` from ``text`` checked against ``schema_name``, keys it does not know left out."""
    data = checked(text, schema_name, what)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as its runner (or the supervisor, when no runner started) saw it."""

    state: str  # a terminal state (trn.registry.record.TERMINAL)
    reason: str | None = None  # why it stopped short: a signal, a callback, early stopping
    error: str | None = None  # a failed job's one line
    traceback: str | None = None
    step: int | None = None  # the global step it reached (a failure's, when it knows)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None  # the newest checkpoint's meta path
    tested: str | None = None  # the checkpoint the test stage ran on
    resume_exact: bool | None = None  # does its data resume mid-epoch exactly
    objective: dict[str, Any] | None = None  # the objective it ranked checkpoints by
    pruned: dict[str, Any] | None = None  # early stopping's decision
    mlflow_run_id: str | None = None
    mlflow_status: str | None = None  # the status the runner ended its MLflow run with

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "the outcome") -> Outcome:
        """The outcome in ``text``; :class:`BadFile` if it is not one (``what``: the file)."""
        return _load(cls, text, OUTCOME_SCHEMA, what)


@dataclass(frozen=True)
class Launch:
    """The devices a job's runner runs on, as leased just before it starts (written once)."""

    allocation: dict[str, Any]  # trn.devices.Allocation.to_dict(): devices, ids, env, threads
    trainer: dict[str, Any]  # the Trainer's device arguments: accelerator, devices, strategy, ...

    @property
    def device_ids(self) -> list[str]:
        return [str(d) for d in self.allocation.get("device_ids") or []]

    def to_json(self) -> str:
        # the Trainer's arguments sit inside the allocation, as they always have in the file
        data = {"allocation": {**self.allocation, "trainer": self.trainer}}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "the launch") -> Launch:
        """The launch in ``text``; :class:`BadFile` if it is not one (``what``: the file)."""
        allocation = dict(checked(text, LAUNCH_SCHEMA, what)["allocation"])
        trainer = allocation.pop("trainer")
        return cls(allocation=allocation, trainer=trainer)


@dataclass(frozen=True)
class SweepJobSpec:
    """One job of a sweep, for the process that runs it (``python -m
    trn.lifecycle.sweep_job SPEC.json``), written by the launcher that starts it."""

    overrides: list[str]
    result: str  # where the job process writes its result: {"record": ...} or {"error": ...}
    # where it writes the job's record as soon as the job exists: a launcher that sees the
    # process die ends the job from there (the reaper)
    submitted: str
    sweep_id: str | None = None
    home: str | None = None
    config_dir: str | None = None
    num: int | None = None  # the job's number in the sweep
    point: int | None = None  # the sweep point it runs
    stderr: bool = False  # show its events on stderr (the sweep's stdout is --json's)
    plan: str | None = None  # the plan trn run -m made for it (Plan.to_json), if any

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "the sweep job's spec") -> SweepJobSpec:
        """The spec in ``text``; :class:`BadFile` if it is not one (``what``: the file)."""
        return _load(cls, text, SWEEP_JOB_SCHEMA, what)


@dataclass(frozen=True)
class SweepRequest:
    """What a detached sweep's process runs (``trn run -m --detach``, ``trn resume SWEEP
    --detach``), written in its sweep dir before that process starts."""

    sweep_id: str
    overrides: list[str]
    home: str
    fail_fast: bool = False
    # a resume's options (trn.lifecycle.sweep_resume.ResumeOptions): the process plans the
    # resume again as it starts
    resume: dict[str, bool] | None = None

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, text: str | bytes, what: str = "the sweep's request") -> SweepRequest:
        """The request in ``text``; :class:`BadFile` if it is not one (``what``: the file)."""
        return _load(cls, text, SWEEP_REQUEST_SCHEMA, what)
