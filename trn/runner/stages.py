"""Lightning's stages after ``fit``: the test stage of a training job, and an eval job.

A training job whose module defines ``test_step`` and whose data has test data runs
``trainer.test`` on its best checkpoint once ``fit`` completed (``test: false`` turns it off);
an eval job (``trn eval``) runs ``trainer.test`` or ``trainer.validate`` on a checkpoint. Either
way the stage's metrics are one ``metrics`` event (phase ``test`` or ``val``, emitted as the
stage ends, before Lightning finalizes the loggers), which feeds the record and the loggers like
every other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from trn.errors import TrnError


class StageError(TrnError):
    """The test stage after fit raised: the fit stands, its checkpoints are kept."""


class StageStopped(TrnError):
    """A stop signal came during a test or validation stage, which has no step to stop at."""


def has_test(module: Any, datamodule: Any) -> bool:
    """The module defines ``test_step`` and the data has test data: for a trn dataset a
    ``test`` split, for other data a ``test_dataloader`` of its own."""
    from lightning.pytorch.utilities.model_helpers import is_overridden

    from trn.data.datamodule import ShardDataModule

    if not is_overridden("test_step", module, pl.LightningModule):
        return False
    if isinstance(datamodule, ShardDataModule):
        return "test" in datamodule.index.splits
    if datamodule is None:
        return is_overridden("test_dataloader", module, pl.LightningModule)
    return is_overridden("test_dataloader", datamodule, pl.LightningDataModule)


def best_checkpoint(trainer: pl.Trainer, ckpt: Any) -> str | None:
    """The ``.ckpt`` the test stage loads, the same on every rank: the best by the objective,
    else the newest (None when fit committed none: the weights as they are)."""
    path = None
    if trainer.is_global_zero:
        meta = ckpt.best or (ckpt.saved[-1] if ckpt.saved else None)
        path = str(Path(ckpt.dir) / meta["ckpt"]) if meta else None
    if trainer.world_size > 1:
        path = trainer.strategy.broadcast(path, src=0)
    return path


def run(trainer: pl.Trainer, stage: str, module: Any, datamodule: Any, ckpt: str | None) -> None:
    """``trainer.test`` or ``trainer.validate`` on ``ckpt``; the trainer's
    :class:`~trn.runner.callbacks.EventCallback` emits the stage's metrics as it ends."""
    call = trainer.test if stage == "test" else trainer.validate
    call(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
