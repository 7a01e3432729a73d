"""Atomic checkpoints: ``.ckpt`` then ``.meta.json`` (the commit marker), then ``latest.json``.

A checkpoint without a valid meta does not exist. Every file goes through a temp file in the
destination directory, fsync and rename, so a crash at any instant leaves the previous checkpoint
valid and ``latest.json`` pointing at it. Saves happen only at step boundaries (cadence by steps,
by time, at epoch end, on a stop signal, at the end); each one holds everything an exact resume
needs: Lightning's model/optimizer/scheduler/loop state, the data module's sampler position
(mid-epoch included) and every RNG stream (:mod:`trn.checkpoints.rng`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from trn import __version__, fsutil
from trn.checkpoints import rng
from trn.checkpoints.meta import META_SCHEMA, sha256_file
from trn.errors import TrnError
from trn.events.writer import EventWriter
from trn.jobdir import JobDir
from trn.registry.record import utc_now
from trn.runner.metrics import scalar_metrics

# Lightning cannot see that trn's data module restores its own position mid-epoch.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")


class CheckpointWriteError(TrnError):
    """A checkpoint could not be written (disk full, read-only dir); the previous one is intact."""


class NonFiniteError(TrnError):
    """A non-finite loss or parameter: the job stops as failed, nothing non-finite is
    committed."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def versions() -> dict[str, str]:
    import lightning

    return {
        "trn": __version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": sys.version.split()[0],
    }


class AtomicCheckpoint(pl.Callback):
    """Saves by ``every_n_steps`` / ``every_s`` / ``every_n_epochs``, on stop and at the end;
    keeps the last ``keep_last`` (+ the best by ``objective`` when ``save_best``)."""

    def __init__(
        self,
        directory: Path,
        *,
        job: dict[str, Any],
        config: dict[str, Any],
        objective: dict[str, str],
        events: EventWriter | None,
        every_n_epochs: int = 1,
        every_n_steps: int = 0,
        every_s: float | None = None,
        keep_last: int = 2,
        save_best: bool = True,
        dataset_fingerprint: str | None = None,
        resume_exact: bool = True,
    ):
        self.dir = Path(directory)
        self.resume_exact = resume_exact
        self.job, self.config, self.objective, self.events = job, config, objective, events
        self.every_epochs, self.every_steps = every_n_epochs, every_n_steps
        self.every_s = every_s or 0.0
        self.keep_last, self.save_best = keep_last, save_best
        self.fingerprint = dataset_fingerprint
        self.saved: list[dict[str, Any]] = []  # metas of this run, oldest first
        self.best: dict[str, Any] | None = None
        self.last_step = -1
        self.last_time = time.monotonic()
        self.latest_meta: Path | None = None
        self._rng_to_restore: dict[str, Any] | None = None
        self._at_epoch_end: str | None = None  # a save due at an epoch's last batch: its reason

    # -- RNG state travels in the callback's own slot of the checkpoint ---------------------
    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._rng_to_restore = state_dict.get("rng")

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if not self.resume_exact:
            restart_interrupted_epoch(checkpoint)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Restored here, after the sanity check and loader start-up, right before the loop goes on
        # as the interrupted run would have; the data loaders draw from their own generator.
        if self._rng_to_restore is not None:
            rng.set_state(self._rng_to_restore)
            self._rng_to_restore = None
        self.last_time = time.monotonic()

    # -- cadence ----------------------------------------------------------------------------
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        reason = None
        if trainer.should_stop:  # a stop signal (StopOnSignal runs first): save at this boundary
            reason = "stop"
        else:
            step = trainer.global_step
            due = bool(self.every_steps) and step % self.every_steps == 0
            if self.every_s and not due:
                due = time.monotonic() - self.last_time >= self.every_s
                if trainer.world_size > 1:  # every rank must join the save: rank 0's clock decides
                    due = bool(trainer.strategy.broadcast(due, src=0))
            reason = "step" if due else None
        if reason is None:
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            # The epoch's last batch: save at the epoch's end instead, one checkpoint with the
            # epoch's. Lightning (2.6) resumes from a checkpoint taken here without counting the
            # next epoch as started, and the checkpoints of that epoch then resume at the wrong
            # batch (tests/test_faults_exact.py found it).
            self._at_epoch_end = reason
            return
        self.save(trainer, reason)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        deferred, self._at_epoch_end = self._at_epoch_end, None
        if trainer.should_stop and deferred is None:
            return  # stopped mid-epoch: saved at its step boundary already
        epoch_due = bool(self.every_epochs) and (trainer.current_epoch + 1) % self.every_epochs == 0
        if deferred == "stop" or (deferred and not epoch_due):
            self.save(trainer, deferred)
        elif epoch_due:
            self.save(trainer, "epoch")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self.last_step:
            self.save(trainer, "end")

    # -- saving -----------------------------------------------------------------------------
    def save(self, trainer: pl.Trainer, reason: str) -> Path | None:
        check_finite_weights(trainer.lightning_module, trainer.global_step)
        metrics = scalar_metrics(trainer.callback_metrics)
        name = f"e{trainer.current_epoch:03d}-s{trainer.global_step:07d}-{reason}"
        tmp = self.dir / f".tmp-{name}.ckpt"
        self.last_step, self.last_time = trainer.global_step, time.monotonic()
        try:
            if trainer.is_global_zero:
                self.dir.mkdir(parents=True, exist_ok=True)
            # every rank calls it; rank 0 writes (TrnCheckpointIO); False: the full training state
            trainer.save_checkpoint(tmp, weights_only=False)
            if not trainer.is_global_zero:
                return None
            if any(not math.isfinite(v) for v in metrics.values()):
                tmp.unlink(missing_ok=True)
                self._warn(f"checkpoint {name} not committed: non-finite metrics {metrics}")
                return None
            return self._commit(tmp, name, trainer, metrics, reason)
        except OSError as err:
            with contextlib.suppress(OSError):  # the directory may refuse this too: report `err`
                tmp.unlink(missing_ok=True)
            previous = self.latest_meta or "none from this job"
            raise CheckpointWriteError(
                f"cannot write checkpoint {name} in {self.dir}: {err.strerror or err} "
                f"(free space or make the directory writable); previous checkpoint: {previous}"
            ) from None

    def _commit(
        self, tmp: Path, name: str, trainer: pl.Trainer, metrics: dict[str, float], reason: str
    ) -> Path:
        digest, size = sha256_file(tmp), tmp.stat().st_size
        ckpt, meta_path = self.dir / f"{name}.ckpt", self.dir / f"{name}.meta.json"
        os.replace(tmp, ckpt)
        meta = {
            "schema": META_SCHEMA,
            "job_id": self.job["job_id"],
            "attempt": self.job.get("attempt", 1),
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "reason": reason,
            "ckpt": ckpt.name,
            "sha256": digest,
            "bytes": size,
            "metrics": metrics,
            "created_at": utc_now(),
            "config": self.config,
            "versions": versions(),
            "dataset_fingerprint": self.fingerprint,
        }
        try:
            fsutil.fsync_dir(self.dir)
            fsutil.atomic_write_json(meta_path, meta)  # the commit point
        except BaseException:
            ckpt.unlink(missing_ok=True)  # no uncommitted .ckpt left at a final name
            raise
        fsutil.atomic_write_json(self.dir / JobDir.LATEST, {"meta": meta_path.name})
        self.latest_meta = meta_path
        self._remember(meta)
        if self.events:
            self.events.emit(
                "checkpoint_saved",
                path=str(ckpt),
                meta_path=str(meta_path),
                step=meta["step"],
                epoch=meta["epoch"],
                sha256=digest,
                bytes=size,
                metrics=metrics,
                reason=reason,
            )
        return meta_path

    def _remember(self, meta: dict[str, Any]) -> None:
        self.saved.append(meta)
        metric, mode = self.objective["metric"], self.objective["mode"]
        value = meta["metrics"].get(metric)
        if self.save_best and value is not None:
            best = self.best["metrics"][metric] if self.best else None
            if best is None or (value > best if mode == "max" else value < best):
                self.best = meta
                fsutil.atomic_write_json(
                    self.dir / JobDir.BEST, {"meta": meta["ckpt"][:-5] + ".meta.json"}
                )
        keep = {id(m) for m in self.saved[-self.keep_last :]}
        keep |= {id(self.best)} if self.best else set()
        for old in [m for m in self.saved if id(m) not in keep]:
            stem = old["ckpt"][:-5]
            (self.dir / f"{stem}.meta.json").unlink(missing_ok=True)  # un-commit first
            (self.dir / old["ckpt"]).unlink(missing_ok=True)
            self.saved.remove(old)

    def _warn(self, message: str) -> None:
        print(f"trn: warning: {message}", file=sys.stderr)
        if self.events:
            self.events.emit("warning", message=message)


def restart_interrupted_epoch(checkpoint: dict[str, Any]) -> None:
    """Make a mid-epoch checkpoint resume at the start of its epoch (steps keep counting on).

    Data that cannot seek to a sample (any loader but trn's datasets) starts a fresh pass when
    the run resumes; left alone, Lightning would count that pass's first batches as the rest of
    the interrupted epoch, skipping some samples and repeating others. Runs before the loops
    are restored from ``checkpoint`` (Lightning restores callbacks first).
    """
    loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    progress = loop.get("epoch_loop.batch_progress")
    if not progress or progress.get("is_last_batch"):
        return  # saved at an epoch's end: the next epoch starts afresh anyway
    # Shift the epoch's batch counters back by the batches it had read. A save in
    # on_train_batch_end has completed = ready - 1 and Lightning adds that 1 back on restart,
    # so completed goes to -1 here, and every counter is 0 when the epoch starts again.
    current = progress.get("current") or {}
    done = int(current.get("ready", 0))
    for key in current:
        current[key] -= done


class FiniteGuard(pl.Callback):
    """Stops the job (failed, with step) on a non-finite loss, before it reaches the weights.
    Its advice names what this job can change: ``optimizer.lr`` where trn's optimizer group
    builds the optimizer, the module's own learning rate where ``configure_optimizers`` does."""

    def __init__(self, lr_in_config: bool = True) -> None:
        self.fix = (
            "lower optimizer.lr or set trainer.gradient_clip_val"
            if lr_in_config
            else "lower the learning rate the module's configure_optimizers uses, or set "
            "trainer.gradient_clip_val"
        )

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        bad = not bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:  # every rank stops at the same step
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            raise NonFiniteError(
                f"non-finite loss {float(loss.detach().float().mean())} at step "
                f"{trainer.global_step}; {self.fix}",
                trainer.global_step,
            )


def check_finite_weights(module: torch.nn.Module, step: int) -> None:
    """Every floating-point parameter is finite. Buffers are not looked at: they are not what
    training changes, and some are infinite by design (a causal mask of ``-inf``)."""
    for name, param in module.named_parameters():
        if param.is_floating_point() and not bool(torch.isfinite(param.detach()).all()):
            raise NonFiniteError(
                f"non-finite weights: parameter {name} at step {step}; not checkpointed (lower "
                "optimizer.lr or set trainer.gradient_clip_val)",
                step,
            )
