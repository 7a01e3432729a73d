"""The metrics a module logs through ``self.log``, read the way trn's events need them.

Step events take the values logged ``on_step`` at this step (Lightning's per-step cache: no
epoch reduction, no sync, no stale values from the last validation); epoch events and checkpoints
take ``trainer.callback_metrics``, with Lightning's ``x_step``/``x_epoch`` twins of a metric
logged both ways folded back into ``x`` (the epoch value).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from trn.config.objective import FALLBACK, fallback
from trn.errors import TrnError


class ObjectiveError(TrnError):
    """``objective.metric`` is not among the metrics the module logs."""


def scalar(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalars of ``metrics``; for a metric logged on_step and on_epoch, its epoch value
    under its own name only."""
    out = {}
    for key, value in metrics.items():
        number = scalar(value)
        if number is None:
            continue
        for suffix in ("_step", "_epoch"):
            if key.endswith(suffix) and key[: -len(suffix)] in metrics:
                break
        else:
            out[key] = number
    return out


def step_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """What the training step logged on_step, by the names it logged them under."""
    results = trainer._results  # the running loop's ResultCollection (Lightning 2.x)
    out: dict[str, float] = {}
    if results is None:
        return out
    for _, item in results.valid_items():
        meta = item.meta
        if meta.on_step and meta.fx == "training_step":
            cache = getattr(item, "_forward_cache", None)
            if cache is not None:
                out[meta.name] = float(cache)
    return out


class ObjectiveCheck(pl.Callback):
    """At the end of the first epoch that validated (of the first epoch, when the module has no
    validation), after the epoch's values are reduced (metrics logged on_epoch only in the
    training step count too) and before the epoch's checkpoint: is ``objective.metric`` logged?

    An objective the user or the project chose and the module never logs fails the job: best
    checkpoints and sweeps would silently rank by nothing; the error names what it does log.
    trn's default (``source: default``, :func:`trn.config.objective.ranking`) never fails a job:
    it falls back to the first of :data:`trn.config.objective.FALLBACK` the module logs (already
    at the first validation's end when one is logged by then), or to none ("best" is then the
    last checkpoint). ``objective`` is changed in place (the checkpoint writer and a sweep's
    early stopping share it), an early stopping that monitored the default follows it, and
    ``warn`` is told, with the objective now in force.
    """

    def __init__(self, objective: dict[str, Any], warn: Any = None):
        self.objective = objective
        self.warn = warn  # (message, objective) -> None
        self.checked = self.validated = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.validated = True
        if self.checked or self.objective.get("source") != "default":
            return
        # trn's default, not logged by the first validation while a fallback is: fall back now,
        # before a callback of the project's that monitors the objective (the callbacks group's
        # early_stopping, listed after this one) looks for it at this validation's end
        logged = sorted(scalar_metrics(trainer.callback_metrics))
        metric = self.objective["metric"]
        if metric not in logged and fallback(logged):
            self.checked = True
            self.warn_fallback(metric, logged, ", ".join(logged), trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.checked or not (self.validated or not trainer.enable_validation):
            return
        self.checked = True
        logged = sorted(scalar_metrics(trainer.callback_metrics))
        metric = self.objective["metric"]
        if metric in logged:
            return
        have = ", ".join(logged) or "none"
        if self.objective.get("source") != "default":
            raise ObjectiveError(
                f"objective.metric={metric} is never logged by the module (it logs: "
                f"{have}); set objective.metric to one of them"
            )
        self.warn_fallback(metric, logged, have, trainer)

    def warn_fallback(self, metric: str, logged: list[str], have: str, trainer: Any) -> None:
        found = fallback(logged)
        names = ", ".join(m for m, _ in FALLBACK[:3])
        if found:
            self.objective.update(metric=found[0], mode=found[1], source="fallback")
            follow(trainer, metric, *found)
            message = (
                f"objective.metric={metric} (trn's default) is never logged by the module; "
                f"ranking by {found[0]} ({found[1]}), the first of {names}, ... that it logs; "
                "set objective.metric to choose"
            )
        else:
            self.objective.update(metric=None, source="fallback")
            message = (
                f"objective.metric={metric} (trn's default) is never logged by the module (it "
                f"logs: {have}), nor is any of {names}, ...: no checkpoint is ranked best, the "
                "last one stands for it; set objective.metric to rank by one of its metrics"
            )
        if self.warn is not None:
            self.warn(message, dict(self.objective))


def follow(trainer: Any, old: str, metric: str, mode: str) -> None:
    """Lightning's early stoppings that monitored trn's default objective (``${objective.metric}``
    in the callbacks group) monitor the metric it fell back to, in its direction."""
    from lightning.pytorch.callbacks import EarlyStopping

    for cb in trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.monitor == old:
            cb.monitor, cb.mode = metric, mode
            cb.best_score = torch.tensor(torch.inf if mode == "min" else -torch.inf)
