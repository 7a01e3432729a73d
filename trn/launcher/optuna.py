"""``hydra/sweeper=optuna`` under ``trn run -m``: trn's own Optuna loop, over a study that lives
in the sweep dir and so survives the sweep.

The study is kept in ``optuna.journal`` (Optuna's journal file storage: an append-only log,
safe for several processes of one machine, unlike SQLite on a shared disk), named after the
sweep. The loop asks ``n_jobs`` trials at a time, runs them as trn jobs through the launcher
(numbered on from the task's ``first_num``; each job's ``sweep_point`` is its trial number) and
tells each result: the objective of a completed job, ``PRUNED`` for a job early stopping ended,
``FAIL`` otherwise. A cancelled batch tells nothing: its trials stay ``RUNNING`` in the study,
and ``trn resume SWEEP`` (:mod:`trn.lifecycle.sweep_resume`) finishes them, resuming their jobs
from checkpoints, before asking new ones, until the study holds ``n_trials`` trials, never more.

The search space is Hydra's override syntax, as Hydra's Optuna sweeper reads it:
``interval(a,b)`` (``tag(log, interval(...))`` for a log scale), ``range(a,b[,step])``,
``choice(...)`` and ``a,b,c``; ``hydra.sweeper.params`` adds more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trn.errors import UsageError
from trn.launcher.task import Point

JOURNAL = "optuna.journal"


@dataclass
class OptunaResume:
    """What a resumed Optuna sweep does before it asks anything new."""

    pending: dict[int, Any] = field(default_factory=dict)  # trial number -> plan (None: fresh)
    tell: dict[int, float] = field(default_factory=dict)  # finished jobs the study never heard of
    ended: dict[int, str] = field(default_factory=dict)  # trial number -> FAIL | PRUNED
    left: int = 0  # new trials still to ask for (n_trials - trials so far)

    def has_work(self) -> bool:
        return bool(self.pending or self.tell or self.ended or self.left > 0)


def storage(sweep_dir: Path) -> Any:
    """The sweep's journal storage (Optuna >= 3.1; 4.0 renamed the file backend)."""
    from optuna.storages import JournalStorage

    try:
        from optuna.storages.journal import JournalFileBackend
    except ImportError:  # Optuna 3.x
        from optuna.storages import JournalFileStorage as JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))


def load_study(sweep_dir: Path, sweep_id: str) -> Any:
    """The study of an Optuna sweep that ran; UsageError when it left none."""
    import optuna

    if not (sweep_dir / JOURNAL).exists():
        raise UsageError(
            f"sweep {sweep_id} cannot be resumed: its dir {sweep_dir} has no {JOURNAL} "
            "(it started before trn kept Optuna studies, or the dir is incomplete)"
        )
    return optuna.load_study(study_name=sweep_id, storage=storage(sweep_dir))


def search_space(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The distributions the sweep overrides describe, and its fixed (task) overrides."""
    from trn.config.compose import parse_overrides

    space, fixed = {}, []
    for text, o in zip(overrides, parse_overrides(overrides), strict=True):
        if o.is_sweep_override():
            space[o.get_key_element()] = distribution(o.value(), text)
        elif not text.startswith(("hydra.", "hydra/", "+hydra", "++hydra", "~hydra")):
            fixed.append(text)
    return space, fixed


def distribution(sweep: Any, text: str) -> Any:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    log = "log" in (sweep.tags or set())
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(
            [c if isinstance(c, int | float | bool) else str(c) for c in sweep.list]
        )
    if isinstance(sweep, RangeSweep):
        start, stop, step = (sweep.start or 0), (sweep.stop or 0), (sweep.step or 1)
        if all(isinstance(v, int) for v in (start, stop, step)):  # range's stop is exclusive
            return IntDistribution(int(start), int(stop) - 1, step=int(step))
        return FloatDistribution(float(start), float(stop - step), step=float(step))
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start or 0, sweep.end or 0
        if isinstance(low, int) and isinstance(high, int) and not log:
            return IntDistribution(low, high)
        return FloatDistribution(float(low), float(high), log=log)
    raise UsageError(f"{text}: Optuna takes interval(), range(), choice() or a,b,c here")


def trial_overrides(fixed: list[str], params: dict[str, Any]) -> list[str]:
    return [*fixed, *(f"{k}={v}" for k, v in params.items())]


def sweep(sweeper: Any, arguments: list[str]) -> Any:
    """The Optuna loop (see the module's docstring); Hydra's sweeper protocol."""
    import optuna

    params, task = sweeper.params, sweeper.task
    sweep_dir = Path(str(sweeper.config.hydra.sweep.dir))
    sweep_dir = sweep_dir.parent if sweep_dir.name.startswith("attempt-") else sweep_dir
    given = [f"{k}={v}" for k, v in (params.get("params") or {}).items()]
    space, fixed = search_space(list(arguments) + given)
    study = optuna.create_study(
        study_name=task.sweep_id,
        storage=storage(sweep_dir),
        sampler=_sampler(params.get("sampler")),
        direction="maximize" if params.get("direction") == "maximize" else "minimize",
        load_if_exists=True,
    )
    n_trials, n_jobs = int(params.get("n_trials") or 20), max(1, int(params.get("n_jobs") or 1))
    study.set_user_attr("n_trials", study.user_attrs.get("n_trials", n_trials))
    n_trials = int(study.user_attrs["n_trials"])  # a resume goes on toward the first total
    runner = _Runner(sweeper, study, fixed)
    resume = task.resume
    if resume is not None:
        runner.settle(resume)
        pending = sorted(resume.pending.items())
        for i in range(0, len(pending), n_jobs):
            runner.run([(study.trials[n], plan) for n, plan in pending[i : i + n_jobs]])
    while len(study.trials) < n_trials:
        k = min(n_jobs, n_trials - len(study.trials))
        runner.run([(study.ask(space), None) for _ in range(k)])
    return runner.returns


class _Runner:
    def __init__(self, sweeper: Any, study: Any, fixed: list[str]):
        self.sweeper, self.study, self.fixed = sweeper, study, fixed
        self.task = sweeper.task
        self.returns: list[Any] = []

    def settle(self, resume: OptunaResume) -> None:
        """Tell the study what ended while no sweep listened."""
        from optuna.trial import TrialState

        for number, value in sorted(resume.tell.items()):
            self.study.tell(number, value)
        for number, how in sorted(resume.ended.items()):
            self.study.tell(number, state=TrialState[how])

    def run(self, batch: list[tuple[Any, Any]]) -> None:
        """One batch of trials as jobs; each told its result."""
        points = []
        for trial, plan in batch:
            overrides = trial_overrides(self.fixed, trial.params)
            if plan is not None:  # a resume: the trial's values, then where it resumes from
                plan = replace(plan, overrides=[*overrides, *plan.overrides])
            point = Point(trial.number, overrides, plan)
            self.task.points.append(point)
            points.append(point)
        first = self.task.first_num
        self.task.first_num += len(points)
        returns = self.sweeper.launcher.launch([p.overrides for p in points], first)
        for point, ret in zip(points, returns, strict=True):
            self._tell(point.index, ret)
        self.returns.append(returns)

    def _tell(self, number: int, ret: Any) -> None:
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        value = ret._return_value
        if ret.status == JobStatus.COMPLETED and _finite(value):
            self.study.tell(number, float(value))
        elif getattr(value, "state", None) == "pruned":
            self.study.tell(number, state=TrialState.PRUNED)
        else:
            self.study.tell(number, state=TrialState.FAIL)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _sampler(conf: Any) -> Any:
    """``hydra.sweeper.sampler``: ``{_target_: optuna.samplers.X, seed: ..., ...}`` (Hydra has
    usually made it already, instantiating the sweeper)."""
    import importlib

    if conf is not None and not hasattr(conf, "keys"):
        return conf
    conf = dict(conf or {})
    target = str(conf.pop("_target_", "optuna.samplers.TPESampler"))
    module, _, name = target.rpartition(".")
    if not module.startswith("optuna."):
        raise UsageError(f"hydra.sweeper.sampler._target_={target}: give an optuna.samplers.*")
    return getattr(importlib.import_module(module), name)(**conf)
