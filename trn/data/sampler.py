"""trn's sampler: deterministic shuffled batches per (seed, epoch), split across DDP ranks.

It yields whole batches (arrays of global indices), so ``ShardDataset`` reads each batch with one
fancy-index per shard. DataLoader workers receive whole batches from it, so they never read a
sample twice. It subclasses DistributedSampler only so that Lightning sees a sampler that already
splits across ranks and does not wrap it in another.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import DistributedSampler

LAYOUT = ("num_samples", "batch_size", "world_size", "rank", "seed", "shuffle", "drop_last")


class ShardSampler(DistributedSampler):
    """Batches of ``batch_size`` global indices for one ``rank`` of ``world_size``.

    Every rank yields the same number of batches (DDP needs it). Without ``drop_last`` each sample
    appears exactly once per epoch across all ranks; a rank with one sample fewer gets a shorter
    batch near its end. With ``drop_last`` only full batches, the same count on every rank.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
    ):
        if batch_size < 1 or num_samples < 1 or seed < 0 or not 0 <= rank < world_size:
            raise ValueError(
                f"ShardSampler: need batch_size>=1, num_samples>=1, seed>=0, 0<=rank<world_size; "
                f"got {batch_size}, {num_samples}, {seed}, {rank}/{world_size}"
            )
        super().__init__(
            range(num_samples),  # type: ignore[arg-type]  # only its len() is used
            world_size,
            rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.n, self.batch_size = num_samples, batch_size
        self.world_size = world_size
        self.samples_seen = 0  # in the current epoch, counting samples skipped on resume
        self.batches_seen = 0  # the same, in batches
        self._resume: tuple[int, int] | None = None
        self.inexact: str | None = None  # why a resume could not continue at the next sample

    def __len__(self) -> int:
        return len(self.batch_sizes())

    def batch_sizes(self) -> list[int]:
        """The size of each batch this rank yields in an epoch (the same for every epoch)."""
        n, ws, b = self.n, self.world_size, self.batch_size
        if self.drop_last:
            return [b] * (n // ws // b)
        mine, most = len(range(self.rank, n, ws)), -(-n // ws)
        sizes = []
        for left in range(-(-most // b) - 1, -1, -1):
            size = max(1, min(b, mine - left))
            sizes.append(size)
            mine -= size
        return sizes

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches for ``epoch``: a pure function of (seed, epoch, layout)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        mine = order[self.rank :: self.world_size]
        sizes = self.batch_sizes()
        if sum(sizes) > len(mine):  # batch_size 1 and fewer samples than batches: repeat one
            mine = np.concatenate([mine, order[: sum(sizes) - len(mine)]])
        return np.split(mine[: sum(sizes)], np.cumsum(sizes)[:-1])

    def __iter__(self) -> Iterator[np.ndarray]:
        skip = self._resume[1] if self._resume and self._resume[0] == self.epoch else 0
        self._resume = None
        self.samples_seen = self.batches_seen = 0
        for batch in self.batches(self.epoch):
            self.samples_seen += len(batch)
            self.batches_seen += 1
            if self.samples_seen > skip:
                yield batch[max(0, len(batch) - (self.samples_seen - skip)) :]

    def samples_after(self, batches: int) -> int:
        """How many samples this rank has yielded after ``batches`` batches of an epoch."""
        return sum(self.batch_sizes()[:batches])

    def state_dict(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in LAYOUT if k != "num_samples"}
        return {
            "epoch": self.epoch,
            "samples": self.samples_seen,
            "batches": self.batches_seen,
            "num_samples": self.n,
            **state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at the exact next sample of ``state``'s epoch (same layout) or start over
        (:attr:`inexact` says why)."""
        mine = self.state_dict()
        changed = [k for k in LAYOUT if state.get(k) != mine[k]]
        self.set_epoch(int(state["epoch"]))
        self.inexact = None
        if changed == ["rank"] and "batches" in state:
            # A checkpoint holds rank 0's sampler. Every rank runs an epoch's batches in
            # lockstep, so the count of batches done places this rank exactly too.
            self._resume = (self.epoch, self.samples_after(int(state["batches"])))
            return
        if changed:
            self.inexact = (
                f"sampler layout changed since the checkpoint ({', '.join(changed)}): "
                f"epoch {self.epoch} starts from its first sample"
            )
            warnings.warn(self.inexact, stacklevel=2)
            return
        self._resume = (self.epoch, int(state["samples"]))
