"""The LightningModule that trains any classifier ``nn.Module`` with a configured optimizer."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F

from trn.runner import schedule


class Classifier(pl.LightningModule):
    """Cross-entropy training of ``model``; logs ``train/loss``, ``val/loss`` and ``val/acc``."""

    def __init__(self, model: nn.Module, make_optimizer: Any, scheduler: dict[str, Any]):
        super().__init__()
        self.model = model
        self.make_optimizer = make_optimizer  # params -> Optimizer
        self.scheduler_cfg = scheduler
        self.last_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.last_loss = loss.detach()
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val/loss", F.cross_entropy(logits, y), sync_dist=True)
        self.log("val/acc", (logits.argmax(-1) == y).float().mean(), sync_dist=True)

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(self.parameters())
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, int(self.trainer.max_epochs or 1)))
        sched = schedule.build(optimizer, self.scheduler_cfg, total, per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": sched} if sched else optimizer
