"""Early stopping of a sweep's trials (``sweep.early_stop``): the rules and their arithmetic.

Each trial of a sweep (a sweep point: every job of a resumed point is the same trial) reports
its objective at each decision point (an epoch's end, or a validation with ``unit: step``) to
the sweep dir's ``trials.jsonl``, one appended line per report, and decides there whether to go
on. The file is beside the sweep's other records, on the disk every job of the sweep writes
to, so a local sweep and a Slurm sweep decide alike.

``asha`` (asynchronous successive halving, as Ray Tune's ``AsyncHyperBandScheduler``): rungs
at ``grace * reduction_factor**k`` epochs (or steps), below the training's end. A trial
reaching a rung is compared with every trial that reached it before: it stops when its value
is worse than the ``1 - 1/reduction_factor`` quantile of theirs (with factor 3: when it is not
in their top third). The first trial at a rung always goes on.

``median`` (Optuna's ``MedianPruner``): once ``min_trials`` trials completed, a trial whose
best value so far is worse than the median of the completed trials' values at the same epoch
(or step) stops; never before ``grace``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trn.errors import UsageError
from trn.jobdir import SWEEP_TRIALS

TRIALS = SWEEP_TRIALS  # in the sweep dir: every trial's reports
RULES = ("asha", "median")
UNITS = ("epoch", "step")


@dataclass(frozen=True)
class Rule:
    kind: str  # asha | median
    metric: str
    mode: str  # max | min
    unit: str = "epoch"
    grace: int = 1
    reduction_factor: int = 3
    min_trials: int = 5
    max_t: int = 0  # where training ends: trainer.max_epochs (or max_steps)

    @classmethod
    def of(cls, config: dict[str, Any]) -> Rule | None:
        """The rule ``config`` asks for, None for none; a schedule that could never stop a
        trial is a usage error, said before any job starts."""
        sweep = config.get("sweep") or {}
        kind = sweep.get("early_stop")
        if not kind:
            return None
        objective, trainer = config.get("objective") or {}, config.get("trainer") or {}
        unit = sweep.get("unit", "epoch")
        max_t = int(trainer.get("max_epochs") or 0) if unit == "epoch" else _steps(trainer)
        rule = cls(
            kind=str(kind),
            metric=str(objective.get("metric")),
            mode=str(objective.get("mode", "max")),
            unit=unit,
            grace=int(sweep.get("grace", 1)),
            reduction_factor=int(sweep.get("reduction_factor", 3)),
            min_trials=int(sweep.get("min_trials", 5)),
            max_t=max_t,
        )
        if rule.grace >= max_t:
            limit = "trainer.max_epochs" if unit == "epoch" else "trainer.max_steps"
            raise UsageError(
                f"sweep.early_stop={kind}: its first rung (sweep.grace={rule.grace} {unit}s) is "
                f"not before the training's end ({limit}={max_t}), so no trial could stop "
                f"early; lower sweep.grace or raise {limit}"
            )
        return rule

    def rungs(self) -> list[int]:
        """ASHA's milestones, below the training's end."""
        out, t = [], self.grace
        while t < self.max_t:
            out.append(t)
            t *= self.reduction_factor
        return out

    def better(self, value: float) -> float:
        """``value`` where higher is better."""
        return value if self.mode == "max" else -value


def _steps(trainer: dict[str, Any]) -> int:
    steps = trainer.get("max_steps")
    if not isinstance(steps, int) or steps <= 0:
        raise UsageError(
            "sweep.unit=step needs a step budget: set trainer.max_steps (or use sweep.unit=epoch)"
        )
    return steps


@dataclass(frozen=True)
class Report:
    point: int  # the trial: its sweep point
    job_id: str
    t: int  # epochs (or steps) trained when it reported
    value: float


@dataclass(frozen=True)
class Decision:
    """Why a trial stopped (the record's ``pruned``, the ``job_pruned`` event's)."""

    rule: str
    rung: int
    t: int
    unit: str
    value: float
    cutoff: float
    trials: int  # how many other trials' values it was compared with
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_reports(sweep_dir: Path) -> list[Report]:
    try:
        lines = (sweep_dir / TRIALS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(Report(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a torn line of a writer that died mid-write
    return out


def report(sweep_dir: Path, entry: Report) -> None:
    from trn import fsutil

    fsutil.append_line(sweep_dir / TRIALS, json.dumps(asdict(entry)))


def decide(rule: Rule, now: Report, reports: list[Report], completed: set[int]) -> Decision | None:
    """Whether the trial reporting ``now`` stops; ``reports`` are the sweep's earlier ones,
    ``completed`` the points whose trial completed (for ``median``)."""
    if not math.isfinite(now.value):
        return None
    if rule.kind == "asha":
        return _asha(rule, now, reports)
    return _median(rule, now, reports, completed)


def _asha(rule: Rule, now: Report, reports: list[Report]) -> Decision | None:
    mine = [r for r in reports if r.point == now.point]
    passed = [m for m in rule.rungs() if m <= now.t and not any(r.t >= m for r in mine)]
    if not passed:
        return None
    rung = max(passed)  # Ray's order: the highest milestone this report reaches first
    others = [_at(rung, [r for r in reports if r.point == p]) for p in _points(reports, now)]
    values = [rule.better(v) for v in others if v is not None and math.isfinite(v)]
    if not values:
        return None  # the first trial at a rung always goes on
    cutoff = _quantile(sorted(values), 1 - 1 / rule.reduction_factor)
    if rule.better(now.value) >= cutoff:
        return None
    shown = rule.better(cutoff)  # back in the metric's own direction
    why = (
        f"asha: {rule.metric}={now.value:.4g} at {rule.unit} {now.t} is "
        f"{'below' if rule.mode == 'max' else 'above'} the cutoff {shown:.4g} of the "
        f"{len(values)} trial(s) that reached rung {rung} before it"
    )
    return Decision("asha", rung, now.t, rule.unit, now.value, shown, len(values), why)


def _median(rule: Rule, now: Report, reports: list[Report], completed: set[int]) -> Decision | None:
    if now.t < rule.grace or len(completed) < rule.min_trials:
        return None
    mine = [r.value for r in reports if r.point == now.point and r.t <= now.t] + [now.value]
    best = max(rule.better(v) for v in mine if math.isfinite(v))
    at = [_exactly(now.t, [r for r in reports if r.point == p]) for p in completed]
    values = sorted(rule.better(v) for v in at if v is not None and math.isfinite(v))
    if len(values) < rule.min_trials:
        return None
    median = _quantile(values, 0.5)
    if best >= median:
        return None
    shown = rule.better(median)
    why = (
        f"median: the best {rule.metric} by {rule.unit} {now.t}, {rule.better(best):.4g}, is "
        f"worse than the median {shown:.4g} of {len(values)} completed trials there"
    )
    return Decision("median", now.t, now.t, rule.unit, now.value, shown, len(values), why)


def _points(reports: list[Report], now: Report) -> list[int]:
    return sorted({r.point for r in reports if r.point != now.point})


def _at(rung: int, reports: list[Report]) -> float | None:
    """A trial's value at a rung: its first report at or past it."""
    past = [r for r in reports if r.t >= rung]
    return min(past, key=lambda r: r.t).value if past else None


def _exactly(t: int, reports: list[Report]) -> float | None:
    hits = [r.value for r in reports if r.t == t]
    return hits[-1] if hits else None


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default ``percentile``)."""
    pos = (len(values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)
