"""The project's callbacks (the ``callbacks`` group, :mod:`trn.config.callbacks`), built for the
Trainer beside trn's own, and why a job that completed stopped early.

Each is instantiated through the allowlist, as the model is. Lightning's ``LearningRateMonitor``
writes to the Trainer's loggers, which trn feeds from its own metrics; so it is given trn's
way of logging (:class:`LearningRateMonitor`): its ``lr-*`` values are logged as the module's
metrics are, and reach the epoch events, the record, ``trn list`` and every logger, with or
without ``logger=``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, Timer
from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor
from lightning.pytorch.loggers.logger import DummyLogger

from trn.config.callbacks import entries


def build(config: dict[str, Any]) -> list[pl.Callback]:
    """The project's callbacks, in the config's order."""
    from trn.runner.build import instantiate

    allow = config.get("allow_targets") or []
    built = [instantiate(dict(node), _allow=allow) for _, node in entries(config)]
    return [
        LearningRateMonitor.of(cb) if type(cb) is LightningLearningRateMonitor else cb
        for cb in built
    ]


def stop_reason(trainer: pl.Trainer) -> str | None:
    """Why training stopped before its limits, in words: an early stopping, or ``max_time``
    reached; None when it ran to them."""
    for cb in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, EarlyStopping) and trainer.should_stop and cb.stopping_reason_message:
            said = cb.stopping_reason_message.replace(" Signaling Trainer to stop.", "")
            return f"early stopping at epoch {cb.stopped_epoch}: {said}"
        left = cb.time_remaining() if isinstance(cb, Timer) else None
        if left is not None and left <= 0:
            return "trainer.max_time reached"
    return None


class LearningRateMonitor(LightningLearningRateMonitor):
    """Lightning's, logging through the module (``pl_module.log``) instead of straight to the
    Trainer's loggers, so it needs none and its values join the job's metrics."""

    @classmethod
    def of(cls, lightning: LightningLearningRateMonitor) -> LearningRateMonitor:
        return cls(lightning.logging_interval, lightning.log_momentum, lightning.log_weight_decay)

    def on_train_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        loggers = trainer.loggers
        if loggers:
            return super().on_train_start(trainer, *args, **kwargs)
        # Lightning's refuses to start without a logger; the names it works out need none
        trainer.loggers = [DummyLogger()]
        try:
            super().on_train_start(trainer, *args, **kwargs)
        finally:
            trainer.loggers = loggers

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        if not trainer._logger_connector.should_update_logs or self.logging_interval == "epoch":
            return
        stats = self._extract_stats(trainer, "step" if self.logging_interval is None else "any")
        for name, value in stats.items():
            pl_module.log(name, value, on_step=True, on_epoch=False)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        if self.logging_interval == "step":
            return
        stats = self._extract_stats(trainer, "epoch" if self.logging_interval is None else "any")
        for name, value in stats.items():
            pl_module.log(name, value, on_step=False, on_epoch=True)
