"""Lightning callbacks that emit trn events and stop cleanly on signals."""

from __future__ import annotations

import math
import signal
import time
from typing import Any

import lightning.pytorch as pl
import torch

from trn.events.heartbeat import Heartbeat
from trn.events.writer import EventWriter
from trn.runner.metrics import scalar_metrics, step_metrics
from trn.runner.throughput import ThroughputWatch


class EventCallback(pl.Callback):
    """Rank 0 emits ``job_started``, ``metrics`` every N steps and per epoch, and a
    ``heartbeat`` every ``heartbeat_s`` seconds from a daemon thread (0: none).

    Step events come at the step cadence for every module, whether or not it logs per step:
    what the training step logged on_step (:func:`step_metrics`), the learning rates of its
    optimizers (:func:`learning_rates`) and the samples per second since the last one (and the
    tokens, where the batch holds token ids: :func:`tokens_per_sample`). They
    are queued (``EventWriter.emit_later``): with an event every step, the
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
        at: tuple[int, int] | None = None,
        watch: ThroughputWatch | None = None,
    ):
        self.events = events
        self.watch = watch  # a warning when training slows far below its first minutes
        self.at = at  # (step, epoch) a test or validate stage's metrics are at; default the loop's
        self.about = dict(about or {})
        self.every = max(1, every_n_steps)
        self.devices = devices
        self.heartbeat_s = heartbeat_s
        self.heartbeat: Heartbeat | None = None
        self.last_metrics: dict[str, float] = {}
        self.stage_metrics: dict[str, float] = {}  # of the last test or validate stage
        self._step_writer: EventWriter | None = None  # rank 0's writer, set at fit start
        self._world_size = 1
        self._last_step = -1
        self._pace = Pace()
        self.started = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # read once: Lightning's properties cost more than the event itself on a short step
        self._step_writer = self.events if trainer.is_global_zero else None
        self._world_size = trainer.world_size
        # every rank: the estimate may set up the train loader, which ends in a barrier (a
        # module whose configure_optimizers did not ask already would hang rank 0 alone)
        total_steps = _total_steps(trainer)
        self._start(trainer, max_epochs=trainer.max_epochs, total_steps=total_steps)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer)  # an eval job starts here; after fit, the heartbeat beats again

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _stage(trainer) == "validate":  # an eval job's --stage validate
            self._start(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stage_end(trainer, "test")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if _stage(trainer) == "validate":
            self._stage_end(trainer, "val")

    def _stage_end(self, trainer: pl.Trainer, phase: str) -> None:
        """A test or validate stage's metrics: what the stage logged (Lightning resets them at
        its start), once every hook of its end ran and before the loggers are finalized."""
        self.stage_metrics = scalar_metrics(trainer.callback_metrics)
        if self.events and trainer.is_global_zero:
            step, epoch = self.at or (trainer.global_step, trainer.current_epoch)
            self.events.emit(
                "metrics",
                phase=phase,
                step=step,
                epoch=epoch,
                world_size=trainer.world_size,
                metrics=self.stage_metrics,
            )

    def _start(self, trainer: pl.Trainer, **fields: Any) -> None:
        """``job_started`` once (at the first stage the job runs), and the heartbeat."""
        if not (self.events and trainer.is_global_zero):
            return
        if not self.started:
            import os

            import lightning

            self.started = True
            self.events.emit(
                "job_started",
                runner_pid=os.getpid(),
                world_size=trainer.world_size,
                devices=self.devices,
                accelerator=type(trainer.accelerator).__name__,
                strategy=type(trainer.strategy).__name__,
                max_epochs=fields.get("max_epochs"),
                total_steps=fields.get("total_steps"),  # for the progress bar's ETA
                threads=torch.get_num_threads(),  # after the module's own code: what it computes with
                versions={"torch": torch.__version__, "lightning": lightning.__version__},
                **_start_fields(),
                **{**self.about, **_inexact(trainer)},  # after the loader's set-up: it knows
            )
        if self.heartbeat is None:
            progress = lambda: {"step": trainer.global_step, "epoch": trainer.current_epoch}  # noqa: E731
            self.heartbeat = Heartbeat(self.events.emit, self.heartbeat_s, progress).start()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.heartbeat:  # runs after a failure too
            self.heartbeat.stop()
            self.heartbeat = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pace.restart()  # the time between epochs (validation, loaders) is not training

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        step = trainer.global_step
        writer = self._step_writer
        self._pace.batches += 1
        if writer is None or step % self.every or step == self._last_step:
            return  # (the same step twice: batches accumulated into one optimizer step)
        self._last_step = step
        try:  # what the module logged on_step, if anything; every module gets the rest
            metrics = step_metrics(trainer)
            metrics.update(learning_rates(trainer.optimizers))
            throughput = self._pace.samples_per_s(batch, self._world_size)
            speed = _speed(throughput, batch)
            drop = (
                self.watch.feed(time.monotonic(), throughput) if self.watch and throughput else None
            )
            if drop is not None:
                writer.emit(
                    "warning",
                    message=drop.message(),
                    samples_per_s=drop.samples_per_s,
                    baseline_samples_per_s=drop.baseline,
                )
        except Exception:  # noqa: BLE001 - telemetry never stops training
            return
        writer.emit_later(
            "metrics",
            phase="train",
            step=step,
            epoch=trainer.current_epoch,
            world_size=self._world_size,
            metrics=metrics,
            **speed,
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


def _stage(trainer: pl.Trainer) -> str | None:
    """What the trainer runs: ``fit``, ``validate``, ``test``, ``predict`` (None: nothing)."""
    return trainer.state.fn.value if trainer.state.fn is not None else None


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


def learning_rates(optimizers: list[Any]) -> dict[str, float]:
    """``lr`` of the first optimizer's first parameter group; the others as ``lr/pgN`` (more
    groups) and ``lr/optN`` (more optimizers), ``lr/optN/pgM`` for both."""
    out: dict[str, float] = {}
    for i, optimizer in enumerate(optimizers):
        for g, group in enumerate(optimizer.param_groups):
            name = "/".join(["lr"] + ([f"opt{i}"] if i else []) + ([f"pg{g}"] if g else []))
            out[name] = float(group["lr"])
    return out


class Pace:
    """Samples per second over the batches since the last step event, across all ranks (each
    rank reads a batch of the same size)."""

    def __init__(self) -> None:
        self.batches = 0
        self.since = time.monotonic()

    def restart(self) -> None:
        self.batches, self.since = 0, time.monotonic()

    def samples_per_s(self, batch: Any, world_size: int) -> float | None:
        now = time.monotonic()
        size, elapsed, batches = batch_size(batch), now - self.since, self.batches
        self.batches, self.since = 0, now
        if size is None or elapsed <= 0 or not batches:
            return None
        return round(size * batches * world_size / elapsed, 3)


def batch_size(batch: Any) -> int | None:
    """The length of the first tensor in a batch (a tensor, or tuples, lists and dicts of them)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else None
    items = list(batch.values()) if isinstance(batch, dict) else batch
    for item in items if isinstance(items, list | tuple) else ():
        size = batch_size(item)
        if size is not None:
            return size
    return None


def _speed(samples_per_s: float | None, batch: Any) -> dict[str, float]:
    """A step event's ``samples_per_s``, and ``tokens_per_s`` where the batch holds token ids."""
    if samples_per_s is None:
        return {}
    per_sample = tokens_per_sample(batch)
    tokens = {"tokens_per_s": round(samples_per_s * per_sample, 3)} if per_sample else {}
    return {"samples_per_s": samples_per_s, **tokens}


def tokens_per_sample(batch: Any) -> int | None:
    """Tokens in one sample, where the batch says it holds token ids: a dict's ``input_ids``, or
    a first pair of integer tensors of one shape (inputs and next-token targets, as a language
    model's batches are), each (batch, sequence, ...). None for any other batch."""
    if isinstance(batch, dict):
        ids = batch.get("input_ids")
        return _tokens(ids) if isinstance(ids, torch.Tensor) and _token_ids(ids) else None
    if isinstance(batch, list | tuple) and len(batch) >= 2:
        x, y = batch[0], batch[1]
        if _token_ids(x) and _token_ids(y) and x.shape == y.shape:
            return _tokens(x)
    return None


def _token_ids(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.dim() >= 2
        and not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    )


def _tokens(ids: torch.Tensor) -> int | None:
    return int(ids[0].numel()) if ids.shape[0] else None


def _inexact(trainer: pl.Trainer) -> dict[str, Any]:
    """A trn dataset's resume that could not continue at the next sample: not exact, and why."""
    why = getattr(getattr(trainer, "datamodule", None), "resume_inexact", None)
    return {"resume_exact": False, "resume_inexact": why} if why else {}


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
        # a cancel reaches every rank, one of them first: the stop the ranks agreed on may
        # come before this rank's own signal, which still names why
        self.signal_name = self.signal_name or signal.Signals(signum).name

    @property
    def reason(self) -> str | None:
        """Why it stopped, once it has: the signal, or another rank's stop."""
        if self.signal_name:
            return f"received {self.signal_name}"
        return "another rank received a stop signal" if self.requested else None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A stop heard during start-up, with several ranks: each heard it at its own moment of
        start-up, so they agree here, where all have joined, and stop before the first step
        together; no rank trains alone, nor waits for one that left."""
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(self.requested is not None, all=False)
            if stop:
                self.requested = self.requested or "cancelled"
                trainer.should_stop = True

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

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:  # type: ignore[no-untyped-def]
        self._stop_stage(trainer)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:  # type: ignore[no-untyped-def]
        if _stage(trainer) == "validate":  # not fit's validation: fit stops at a step
            self._stop_stage(trainer)

    def _stop_stage(self, trainer: pl.Trainer) -> None:
        """A test or validate stage has no step boundary to stop at: it ends at this batch."""
        stop = self.requested is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            from trn.runner.stages import StageStopped

            raise StageStopped(f"stopped by {self.signal_name or 'a signal'} during the stage")
