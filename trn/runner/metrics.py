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
    """Fails the job at the end of the first epoch that validated (of the first epoch, when the
    module has no validation) if ``objective.metric`` is not logged: best checkpoints and sweeps
    would silently rank by nothing. The error names the metrics the module does log. It runs
    before the epoch's checkpoint, and after the epoch's values are reduced, so metrics logged
    on_epoch only in the training step count too."""

    def __init__(self, metric: str):
        self.metric = metric
        self.checked = self.validated = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.checked or not (self.validated or not trainer.enable_validation):
            return
        self.checked = True
        logged = sorted(scalar_metrics(trainer.callback_metrics))
        if self.metric not in logged:
            have = ", ".join(logged) or "none"
            raise ObjectiveError(
                f"objective.metric={self.metric} is never logged by the module (it logs: "
                f"{have}); set objective.metric to one of them"
            )
