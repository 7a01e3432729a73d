"""Tasks: the LightningModules that train a plain ``nn.Module`` (``task=classification|regression``).

A model whose ``_target_`` builds a LightningModule is trained as it is and never meets these
(:mod:`trn.runner.usermodule`). A task owns the loss, the metrics it logs and, from trn's
``optimizer`` and ``scheduler`` groups, the optimization.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F

from trn.runner import schedule


class Task(pl.LightningModule):
    """``model`` trained with ``loss``; subclasses log their validation metrics."""

    def __init__(self, model: nn.Module, make_optimizer: Any, scheduler: dict[str, Any]):
        super().__init__()
        self.model = model
        self.make_optimizer = make_optimizer  # params -> Optimizer
        self.scheduler_cfg = scheduler

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        # on_step and on_epoch: the step value feeds the step events, the epoch mean the epoch
        # events (trn.runner.metrics folds Lightning's _step/_epoch names back into one)
        self.log("train/loss", loss, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(self.parameters())
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, int(self.trainer.max_epochs or 1)))
        sched = schedule.build(optimizer, self.scheduler_cfg, total, per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": sched} if sched else optimizer


class Classifier(Task):
    """Cross-entropy; logs ``train/loss``, ``val/loss`` and ``val/acc`` (``test/loss`` and
    ``test/acc`` in the test stage: the dataset's ``test`` split)."""

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Any, stage: str) -> None:
        x, y = batch
        logits = self(x)
        self.log(f"{stage}/loss", F.cross_entropy(logits, y), sync_dist=True)
        self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean(), sync_dist=True)


class Regressor(Task):
    """Mean squared error; logs ``train/loss`` (the MSE), ``val/mse``, ``val/mae`` and ``val/r2``
    (``test/...`` in the test stage).

    ``val/r2`` is ``1 - SSE / SST`` over the whole validation split: its sums are accumulated
    per batch (Lightning's epoch sum, synced across ranks), not averaged per batch.
    """

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(_like(out, y), y.to(out.dtype))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Any, stage: str) -> None:
        x, y = batch
        out = self(x)
        pred, y = _like(out, y), y.to(out.dtype)
        err = pred - y
        n = y.shape[0]
        self.log(f"{stage}/mse", (err**2).mean(), sync_dist=True, batch_size=n)
        self.log(f"{stage}/mae", err.abs().mean(), sync_dist=True, batch_size=n)
        # the three sums r2 needs, summed over the epoch; the epoch's end turns them into r2
        for name, value in (("sse", (err**2).sum()), ("sy", y.sum()), ("syy", (y**2).sum())):
            self._sum(name, value)
        self._sum("n", torch.tensor(float(n), device=y.device))

    def _sum(self, name: str, value: torch.Tensor) -> None:
        sums = self.__dict__.setdefault("_sums", {})
        sums[name] = sums.get(name, 0) + value.detach().double()

    def on_validation_epoch_end(self) -> None:
        self._log_r2("val")

    def on_test_epoch_end(self) -> None:
        self._log_r2("test")

    def _log_r2(self, stage: str) -> None:
        sums = self.__dict__.pop("_sums", None)
        if not sums:
            return
        stacked = torch.stack([sums[k] for k in ("sse", "sy", "syy", "n")])
        gathered = self.all_gather(stacked)
        assert isinstance(gathered, torch.Tensor)
        sse, sy, syy, n = gathered.reshape(-1, 4).sum(0)
        sst = syy - sy * sy / n
        r2 = 1 - sse / sst if sst > 0 else torch.tensor(0.0, dtype=sse.dtype)
        self.log(f"{stage}/r2", r2.float())


def _like(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A ``[B, 1]`` output against ``[B]`` targets is one prediction per sample."""
    return out.reshape(y.shape) if out.numel() == y.numel() else out


TASKS: dict[str, type[Task]] = {"classification": Classifier, "regression": Regressor}


def output_size(task: str, datamodule: Any) -> int | None:
    """The model head's width the data implies: its classes, or its regression targets."""
    from trn.runner.datainfo import known

    if task == "regression":
        return int(known(datamodule, "num_targets") or 1)
    return known(datamodule, "num_classes")


def check_data_fits(task: str, datamodule: Any) -> None:
    """Classification needs class labels: float targets are a regression."""
    from trn.runner.datainfo import known

    if task == "classification" and known(datamodule, "num_targets"):
        from trn.errors import ConfigError

        raise ConfigError(
            [
                f"task=classification: the data's targets are floats "
                f"({getattr(datamodule, 'path', 'data')}), not class labels; add task=regression"
            ]
        )
