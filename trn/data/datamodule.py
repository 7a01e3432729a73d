"""``ShardDataModule``: a trn dataset as a LightningDataModule, resumable at the exact next sample."""

from __future__ import annotations

import functools
import math
import os
import signal
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from trn.data.dataset import ShardDataset
from trn.data.errors import DatasetError, Problem
from trn.data.index import Index, fingerprint, load_index, resolve_dataset
from trn.data.sampler import ShardSampler
from trn.data.verify import check_dataset

X, Y = "x", "y"


class ShardDataModule(pl.LightningDataModule):
    """Batches ``(x, y)``: x float32 [B, num_features], y [B] or [B, k], from splits train,
    val and (when the dataset has one) test. y is int64 class labels (``num_classes``) or float targets (``num_targets``: regression).

    ``path`` is a dataset name or directory (see ``resolve_dataset``). ``setup()`` validates the
    index and checks every shard (checksums on first use) before any batch is read. Lightning
    drives ``set_epoch`` on the sampler; ``state_dict()`` records the epoch and the samples this
    rank has consumed, so a resumed run continues at the exact next sample.
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        pin_memory: bool = False,
    ):
        super().__init__()
        self.path, self.batch_size, self.num_workers = path, batch_size, num_workers
        self.seed, self.shuffle, self.drop_last, self.pin_memory = (
            seed,
            shuffle,
            drop_last,
            pin_memory,
        )
        self._index: Index | None = None
        self._checked = False
        self._sampler: ShardSampler | None = None
        self._pending: dict[str, Any] | None = None

    @property
    def index(self) -> Index:
        """The dataset's validated index (shards not yet checked: that is ``setup()``)."""
        if self._index is None:
            self._index = load_index(resolve_dataset(self.path))
            self._require_xy(self._index)
        return self._index

    @property
    def root(self) -> Path:
        return self.index.root

    @property
    def num_features(self) -> int:
        return math.prod(self.index.feature(X).shape)

    @property
    def num_classes(self) -> int:
        return int(self.index.feature(Y).num_classes or 0)

    @property
    def fingerprint(self) -> str:
        """The sha256 of the dataset's ``index.json``: checkpoint metas record it."""
        return fingerprint(self.index.root)

    @property
    def num_targets(self) -> int:
        """Values per sample of a float target (1 for a scalar); 0 for class labels."""
        y = self.index.feature(Y)
        return 0 if y.num_classes else math.prod(y.shape)

    def setup(self, stage: str | None = None) -> None:
        if not self._checked:
            check_dataset(self.index.root)
            self._checked = True

    def train_dataloader(self) -> DataLoader:
        self.setup()
        data = ShardDataset(index=self.index, split="train", features=(X, Y))
        self._sampler = self._make_sampler(len(data), self.shuffle, self.drop_last)
        if self._pending is not None:
            self._sampler.load_state_dict(self._pending)
            self._pending = None
        return self._loader(data, self._sampler)

    def val_dataloader(self) -> DataLoader | list:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader | list:
        """The ``test`` split (trn tests after training, and ``trn eval``, only when there is
        one)."""
        return self._eval_loader("test")

    def _eval_loader(self, split: str) -> DataLoader | list:
        self.setup()
        if split not in self.index.splits:
            return []
        data = ShardDataset(index=self.index, split=split, features=(X, Y))
        return self._loader(data, self._make_sampler(len(data), False, False))

    def state_dict(self) -> dict[str, Any]:
        if self._sampler is None:
            return dict(self._pending or {})
        state = self._sampler.state_dict()
        if self.trainer is not None:  # the loop's count, not the sampler's: workers read ahead
            done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
            state["samples"], state["batches"] = self._sampler.samples_after(done), done
            if done >= self.trainer.num_training_batches:
                # A finished epoch resumes at the start of the next one. Lightning creates
                # the resumed loader's iterator before it calls set_epoch, so say it here.
                state["epoch"], state["samples"], state["batches"] = state["epoch"] + 1, 0, 0
        return state

    @property
    def resume_inexact(self) -> str | None:
        """Why this resume could not continue at the exact next sample (a changed world size,
        batch size, ...); None when it did, or nothing was resumed."""
        return self._sampler.inexact if self._sampler is not None else None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._sampler is not None:
            self._sampler.load_state_dict(state_dict)
        else:
            self._pending = dict(state_dict)

    def _make_sampler(self, n: int, shuffle: bool, drop_last: bool) -> ShardSampler:
        rank, world = 0, 1
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        return ShardSampler(
            n,
            self.batch_size,
            rank=rank,
            world_size=world,
            seed=self.seed,
            shuffle=shuffle,
            drop_last=drop_last,
        )

    def _loader(self, data: ShardDataset, sampler: ShardSampler) -> DataLoader:
        return DataLoader(
            data,
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            # Exact resume: the loader draws its worker base seed from its own generator, not
            # torch's global one, so starting a loader never shifts the model's dropout RNG.
            generator=torch.Generator().manual_seed(self.seed),
            worker_init_fn=functools.partial(_worker_init, rank=self._rank()),
        )

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def _require_xy(self, index: Index) -> None:
        x, y = index.feature(X), index.feature(Y)
        problems = []
        if x.dtype != "float32":
            problems.append(Problem("feature x", f"dtype is {x.dtype}", "store x as float32"))
        labels = y.dtype == "int64" and y.shape == () and bool(y.num_classes)
        targets = y.dtype in ("float32", "float64") and not y.num_classes and len(y.shape) <= 1
        if not (labels or targets):
            what = f"is {y.dtype} {list(y.shape)} with num_classes={y.num_classes}"
            fix = "store y as int64 [] with num_classes (classes) or float32 [] (regression)"
            problems.append(Problem("feature y", what, fix))
        if problems:
            raise DatasetError(index.name, index.root, problems)


def _worker_init(worker_id: int, rank: int = 0) -> None:
    """Stop signals are for the runner, which saves at a step boundary and exits.

    Slurm and ``kill -- -PGID`` signal every process; torch's workers die on SIGTERM and the
    runner would then crash mid-step. Workers ignore them; they exit with the runner. Then the
    per-worker seeding that Lightning adds when it is not given a ``worker_init_fn``.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_IGN)
    if os.environ.get("PL_SEED_WORKERS") == "1":
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id, rank=rank)
