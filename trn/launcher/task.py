"""The Hydra task function of ``trn run -m``, as the launchers see it: one trn job per point.

:class:`TrnTask` is what the launchers recognise and read (the sweep, where jobs live, the plans
checked up front); :class:`trn.lifecycle.sweep_job.SweepTask` is the one that runs: under
``hydra/launcher=trn`` the launcher starts ``python -m trn.host JOB_VERB SPEC.json``
(:attr:`TrnTask.job_verb`) per job and calls :meth:`TrnTask.reap` once that process has
exited; under any other launcher (basic,
joblib, submitit) Hydra calls the task where it is. Either way the job's record, events and
checkpoints are those of a single ``trn run``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from trn.errors import JobFailed
from trn.registry.record import JobRecord


@dataclass
class Point:
    """One point of a sweep's search space, as a job runs it: a basic sweep's combination, or
    an Optuna trial (``index`` is then the trial's number)."""

    index: int
    overrides: list[str]
    plan: Any = None  # the plan checked up front, or a resume's; None: the job plans itself


@dataclass
class TrnTask:
    sweep_id: str
    home: Path
    config_dir: Path | None = None
    to_stderr: bool = False  # `trn run -m --json`: stdout carries the summary only
    points: list[Point] = field(default_factory=list)  # what the sweep launches (so far)
    first_num: int = 0  # the first job's number: a resumed sweep numbers on, never reuses one
    fail_fast: bool = False  # the first failed job cancels the rest (`--fail-fast`)
    resume: Any = None  # a resumed Optuna sweep's unfinished trials (trn.launcher.optuna)

    # the verb of ``python -m trn.host VERB SPEC.json`` (trn.handoff.job_command) that runs one
    # job in a fresh process
    job_verb: ClassVar[str]

    def point(self, overrides: list[str]) -> Point:
        """The point a launcher was handed these overrides for (a new one if unknown)."""
        key = list(overrides)
        for point in reversed(self.points):  # the newest: a resumed trial's replaces its first
            if point.overrides == key:
                return point
        point = Point(len(self.points), key)
        self.points.append(point)
        return point

    def __call__(self, cfg: Any) -> Any:
        raise NotImplementedError

    def reap(self, submitted: Path, rc: int | None, cancelled: bool) -> None:
        """After a job process exited: end its job if it never ended (``submitted``: the file
        the process wrote its record to once the job existed)."""
        raise NotImplementedError


def objective_of(record: JobRecord) -> float | None:
    """What a sweeper optimises: the value of the metric the job is ranked by (its record's
    objective: trn's default may have fallen back to another metric), in the direction the
    sweep was started with (its config's mode); raises if the job failed."""
    if record.state != "completed":
        raise JobFailed(f"job {record.job_id} {record.state}: {record.error}", record.to_dict())
    ranked, planned = record.objective or {}, _objective(record)
    metric = ranked.get("metric") or planned.get("metric")
    value = record.metrics.get(metric) if isinstance(metric, str) else None
    flipped = ranked.get("mode") and planned.get("mode") and ranked["mode"] != planned["mode"]
    return -value if flipped and isinstance(value, int | float) else value


def _objective(record: JobRecord) -> dict[str, Any]:
    import yaml

    if not record.config_path:
        return {}
    try:
        with open(record.config_path, encoding="utf-8") as f:
            return dict(yaml.safe_load(f).get("objective") or {})
    except (OSError, AttributeError):
        return {}


@contextmanager
def detached_hydra() -> Iterator[None]:
    """Set the running Hydra aside while trn composes a job's config, then put it back."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    saved = Singleton._instances.pop(GlobalHydra, None)
    try:
        yield
    finally:
        Singleton._instances.pop(GlobalHydra, None)
        if saved is not None:
            Singleton._instances[GlobalHydra] = saved
