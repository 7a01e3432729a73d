"""Learning-rate schedules, stepped once per optimizer step."""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, cfg: dict[str, Any]) -> float:
    """Multiplier of the base learning rate at optimizer step ``step``."""
    warmup = int(cfg.get("warmup_steps") or 0)
    if step < warmup:
        return (step + 1) / warmup
    name = cfg.get("name", "none")
    if name == "cosine":
        floor = float(cfg.get("min_lr_ratio", 0.0))
        span = max(1, total_steps - warmup)
        progress = min(1.0, (step - warmup) / span)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if name == "step":
        epoch = step // max(1, steps_per_epoch)
        return float(cfg.get("gamma", 0.1)) ** (epoch // int(cfg.get("step_epochs", 10)))
    return 1.0


def build(
    optimizer: Optimizer, cfg: dict[str, Any], total_steps: int, steps_per_epoch: int
) -> dict[str, Any] | None:
    """The Lightning ``lr_scheduler`` dict, or None for a constant rate without warm-up."""
    if cfg.get("name", "none") == "none" and not cfg.get("warmup_steps"):
        return None
    scheduler = LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, steps_per_epoch, cfg))
    return {"scheduler": scheduler, "interval": "step", "frequency": 1}
