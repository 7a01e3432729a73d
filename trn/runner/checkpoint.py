"""Atomic checkpoints: ``.ckpt`` then ``.meta.json`` (the commit marker), then ``latest.json``.

A checkpoint without a valid meta does not exist. Every file goes through a temp file in the
destination directory, fsync and rename, so a crash at any instant leaves the previous checkpoint
valid and ``latest.json`` pointing at it.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from trn import __version__, fsutil
from trn.events.writer import EventWriter
from trn.registry.record import utc_now
from trn.runner.callbacks import scalar_metrics

META_SCHEMA = "trn.checkpoint/1"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    import lightning
    import torch

    return {
        "trn": __version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": sys.version.split()[0],
    }


class AtomicCheckpoint(pl.Callback):
    """Saves every ``every_n_epochs`` epochs and at the end; keeps the last K (+ the best)."""

    def __init__(
        self,
        directory: Path,
        *,
        job: dict[str, Any],
        config: dict[str, Any],
        every_n_epochs: int,
        keep_last: int,
        save_best: bool,
        objective: dict[str, str],
        events: EventWriter | None,
        dataset_fingerprint: str | None = None,
    ):
        self.dir = Path(directory)
        self.job = job
        self.config = config
        self.every = every_n_epochs
        self.keep_last = keep_last
        self.save_best = save_best
        self.objective = objective
        self.events = events
        self.fingerprint = dataset_fingerprint
        self.saved: list[dict[str, Any]] = []  # metas of this run, oldest first
        self.best: dict[str, Any] | None = None
        self.last_step = -1
        self.latest_meta: Path | None = None

    # -- cadence ----------------------------------------------------------------------------
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.should_stop:
            return  # stopped early (a signal): on_train_end saves
        if self.every and (trainer.current_epoch + 1) % self.every == 0:
            self.save(trainer, "epoch")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self.last_step:
            self.save(trainer, "end")

    # -- saving -----------------------------------------------------------------------------
    def save(self, trainer: pl.Trainer, reason: str) -> Path | None:
        metrics = scalar_metrics(trainer.callback_metrics)
        name = f"e{trainer.current_epoch:03d}-s{trainer.global_step:07d}"
        tmp = self.dir / f".tmp-{name}.ckpt"
        if trainer.is_global_zero:
            self.dir.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp)  # every rank calls it; rank 0 writes
        self.last_step = trainer.global_step
        if not trainer.is_global_zero:
            return None
        if any(not math.isfinite(v) for v in metrics.values()):
            tmp.unlink(missing_ok=True)
            self._warn(f"checkpoint {name} not committed: non-finite metrics {metrics}")
            return None
        return self._commit(tmp, name, trainer, metrics, reason)

    def _commit(
        self, tmp: Path, name: str, trainer: pl.Trainer, metrics: dict[str, float], reason: str
    ) -> Path:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        digest, size = sha256_file(tmp), tmp.stat().st_size
        ckpt = self.dir / f"{name}.ckpt"
        os.replace(tmp, ckpt)
        fsutil.fsync_dir(self.dir)
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
        meta_path = self.dir / f"{name}.meta.json"
        fsutil.atomic_write_json(meta_path, meta)  # the commit point
        fsutil.atomic_write_json(self.dir / "latest.json", {"meta": meta_path.name})
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
            better = self.best is None or (
                value > self.best["metrics"][metric]
                if mode == "max"
                else value < self.best["metrics"][metric]
            )
            if better:
                self.best = meta
                fsutil.atomic_write_json(
                    self.dir / "best.json", {"meta": meta["ckpt"][:-5] + ".meta.json"}
                )
        keep = {id(m) for m in self.saved[-self.keep_last :]} | (
            {id(self.best)} if self.best else set()
        )
        for old in [m for m in self.saved if id(m) not in keep]:
            stem = old["ckpt"][:-5]
            (self.dir / f"{stem}.meta.json").unlink(missing_ok=True)  # un-commit first
            (self.dir / old["ckpt"]).unlink(missing_ok=True)
            self.saved.remove(old)

    def _warn(self, message: str) -> None:
        print(f"trn: warning: {message}", file=sys.stderr)
        if self.events:
            self.events.emit("warning", message=message)
