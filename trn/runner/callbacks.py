"""Lightning callbacks that emit trn events and stop cleanly on signals."""

from __future__ import annotations

import math
import signal
from typing import Any

import lightning.pytorch as pl
import torch

from trn.events.heartbeat import Heartbeat
from trn.events.writer import EventWriter
from trn.runner.metrics import scalar_metrics, step_metrics


class EventCallback(pl.Callback):
    """Rank 0 emits ``job_started``, ``metrics`` every N steps and per epoch, and a
    ``heartbeat`` every ``heartbeat_s`` seconds from a daemon thread (0: none).

    Step metrics are what the training step logged on_step (:func:`step_metrics`), plus the
    learning rate. They are queued (``EventWriter.emit_later``): with an event every step, the
    step pays for reading those values and an append (docs/performance.md). ``about`` are extra
    ``job_started`` fields: who trains the model, and whether a resume is exact.
    """

    def __init__(
        self,
        events: EventWriter | None,
        every_n_steps: int,
        devices: list[str],
        heartbeat_s: float = 0,
        about: dict[str, Any] | None = None,
    ):
        self.events = events
        self.about = dict(about or {})
        self.every = max(1, every_n_steps)
        self.devices = devices
        self.heartbeat_s = heartbeat_s
        self.heartbeat: Heartbeat | None = None
        self.last_metrics: dict[str, float] = {}
        self._step_writer: EventWriter | None = None  # rank 0's writer, set at fit start
        self._world_size = 1

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # read once: Lightning's properties cost more than the event itself on a short step
        self._step_writer = self.events if trainer.is_global_zero else None
        self._world_size = trainer.world_size
        # every rank: the estimate may set up the train loader, which ends in a barrier (a
        # module whose configure_optimizers did not ask already would hang rank 0 alone)
        total_steps = _total_steps(trainer)
        if self.events and trainer.is_global_zero:
            import os

            import lightning

            self.events.emit(
                "job_started",
                runner_pid=os.getpid(),
                world_size=trainer.world_size,
                devices=self.devices,
                accelerator=type(trainer.accelerator).__name__,
                strategy=type(trainer.strategy).__name__,
                max_epochs=trainer.max_epochs,
                total_steps=total_steps,  # for the progress bar's ETA
                threads=torch.get_num_threads(),  # after the module's own code: what it computes with
                versions={"torch": torch.__version__, "lightning": lightning.__version__},
                **_start_fields(),
                **self.about,
            )
            progress = lambda: {"step": trainer.global_step, "epoch": trainer.current_epoch}  # noqa: E731
            self.heartbeat = Heartbeat(self.events.emit, self.heartbeat_s, progress).start()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.heartbeat:  # runs after a failure too
            self.heartbeat.stop()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        step = trainer.global_step
        writer = self._step_writer
        if writer is None or step % self.every:
            return
        try:
            metrics = step_metrics(trainer)
        except Exception:  # noqa: BLE001 - telemetry never stops training
            return
        if not metrics:
            return
        metrics["lr"] = _lr(trainer)
        writer.emit_later(
            "metrics",
            phase="train",
            step=step,
            epoch=trainer.current_epoch,
            world_size=self._world_size,
            metrics=metrics,
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_metrics = scalar_metrics(trainer.callback_metrics)
        if any(isinstance(cb, StopOnSignal) and cb.cut_short for cb in trainer.callbacks):  # type: ignore[attr-defined]
            # an epoch cut short by a signal is no epoch's row: its val/ values are the previous
            # epoch's, and would read as this one's
            return
        if self.events and trainer.is_global_zero:
            self.events.emit(
                "metrics",
                phase="epoch",
                step=trainer.global_step,
                epoch=trainer.current_epoch,
                world_size=trainer.world_size,
                metrics=self.last_metrics,
            )


def _start_fields() -> dict[str, Any]:
    """How the runner started (``TRN_START``: warm or cold, set by trn.lifecycle.spawn) and the
    seconds from the supervisor's request to here, the start of fit."""
    import os
    import time

    start, at = os.environ.get("TRN_START"), os.environ.get("TRN_STARTED_AT")
    if start not in ("warm", "cold"):
        return {}
    try:
        return {"start": start, "startup_s": round(time.time() - float(at or ""), 3)}
    except ValueError:
        return {"start": start}


def _total_steps(trainer: pl.Trainer) -> int | None:
    try:
        total = trainer.estimated_stepping_batches
    except Exception:  # noqa: BLE001 - an estimate only; unknown for iterable datasets
        return None
    return int(total) if math.isfinite(total) else None


def _lr(trainer: pl.Trainer) -> float:
    try:
        return float(trainer.optimizers[0].param_groups[0]["lr"])
    except (IndexError, KeyError):
        return math.nan


class StopOnSignal(pl.Callback):
    """SIGINT means cancel, SIGTERM/SIGUSR1 mean preemption: stop at the next step boundary.

    The handlers only set a flag; the step that is running finishes, so no state is torn. With
    several ranks, any rank's flag stops all of them at the same step.
    """

    STATES = {signal.SIGINT: "cancelled", signal.SIGTERM: "preempted", signal.SIGUSR1: "preempted"}

    def __init__(self) -> None:
        self.requested: str | None = None
        self.signal_name: str | None = None
        self.cut_short = False  # stopped before the epoch's last batch (every rank agrees)
        for signum in self.STATES:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is None:
            self.requested = self.STATES[signal.Signals(signum)]
            self.signal_name = signal.Signals(signum).name

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        stop = self.requested is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
            if stop and self.requested is None:
                self.requested = "cancelled"
        if stop:
            trainer.should_stop = True
            if batch_idx + 1 < trainer.num_training_batches:
                # Lightning validates once more after should_stop (for early stopping's sake):
                # an epoch cut short by a signal is not, as a plain Lightning run's Ctrl-C is
                # not, so its stop checkpoint is the job's last word
                self.cut_short = True
                trainer.limit_val_batches = 0
