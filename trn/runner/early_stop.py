"""The runner's side of a sweep's early stopping (``sweep.early_stop``, see
:mod:`trn.registry.early_stop`): report the objective where the rule decides, and stop at that
step boundary when it says so. The job then ends ``pruned`` with its checkpoint (saved as any
stop saves) and the decision in its outcome.

Only a sweep's job has siblings to compare with: a single ``trn run`` never stops early. Rank 0
reads and writes the sweep's reports; with several ranks its decision is broadcast, so every
rank stops at the same step.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from trn.registry.early_stop import Report, Rule, decide, read_reports, report


class EarlyStop(pl.Callback):
    def __init__(
        self,
        rule: Rule,
        sweep_dir: Path,
        home: Path,
        record: dict[str, Any],
        objective: dict[str, Any] | None = None,
    ):
        self.rule, self.sweep_dir, self.home = rule, sweep_dir, home
        self.job_id, self.sweep_id = record["job_id"], record["sweep_id"]
        self.point = int(record.get("sweep_point") or 0)
        self.decision: dict[str, Any] | None = None
        # the runner's objective, shared with its objective check: trn's default that a module
        # never logs falls back to a metric it does, and the trials compare that one
        self.objective = objective

    @classmethod
    def of(
        cls,
        config: dict[str, Any],
        record: dict[str, Any],
        home: Path,
        objective: dict[str, Any] | None = None,
    ) -> EarlyStop | None:
        """The callback for a sweep job whose config asks for early stopping, else None."""
        if not record.get("sweep_id") or record.get("sweep_point") is None:
            return None
        rule = Rule.of(config)
        if rule is None:
            return None
        from trn.registry.sweeps import find_sweep

        sweep_dir = find_sweep(home, record["sweep_id"])
        return cls(rule, sweep_dir, home, record, objective) if sweep_dir is not None else None

    def _settled(self) -> None:
        """The rule over the objective in force (a fallback's metric and direction)."""
        objective = self.objective or {}
        metric, mode = objective.get("metric"), objective.get("mode") or self.rule.mode
        if metric and metric != self.rule.metric:
            self.rule = replace(self.rule, metric=str(metric), mode=str(mode))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.rule.unit == "epoch":
            self._check(trainer, trainer.current_epoch + 1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.rule.unit == "step" and not trainer.sanity_checking:
            self._check(trainer, trainer.global_step)

    def _check(self, trainer: pl.Trainer, t: int) -> None:
        self._settled()
        decision = None
        if trainer.is_global_zero:
            decision = self._decide(trainer, t)
        if trainer.world_size > 1:
            decision = trainer.strategy.broadcast(decision, src=0)
        if decision is not None:
            self.decision = decision
            trainer.should_stop = True

    def _decide(self, trainer: pl.Trainer, t: int) -> dict[str, Any] | None:
        value = trainer.callback_metrics.get(self.rule.metric)
        if value is None:
            return None  # ObjectiveCheck fails the job for a metric the module never logs
        now = Report(self.point, self.job_id, t, float(value))
        if not math.isfinite(now.value):
            return None
        try:  # a sweep dir out of reach must not fail training: this trial just goes on
            earlier = read_reports(self.sweep_dir)
            report(self.sweep_dir, now)
            decision = decide(self.rule, now, earlier, self._completed())
        except OSError as err:
            print(f"trn: early stopping skipped at {self.rule.unit} {t}: {err}", file=sys.stderr)
            return None
        return decision.to_dict() if decision else None

    def _completed(self) -> set[int]:
        """The sweep's points whose trial completed (for ``median``)."""
        if self.rule.kind != "median":
            return set()
        from trn.registry.store import Registry

        records = Registry(self.home).list(sweep_id=self.sweep_id, limit=None)
        return {
            r.sweep_point for r in records if r.state == "completed" and r.sweep_point is not None
        }

    def outcome(self) -> dict[str, Any]:
        """What the runner's outcome says once training stopped: ``pruned`` and why."""
        if self.decision is None:
            return {}
        return {"state": "pruned", "reason": self.decision["reason"], "pruned": self.decision}
