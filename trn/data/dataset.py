"""A map-style dataset over the shards of one split, read through NumPy memory maps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trn.data.index import Index, load_index


class ShardDataset(Dataset):
    """Global index -> (shard, offset) by binary search over the shard offsets.

    ``ds[i]`` is one sample; ``ds[indices]`` (a sequence or array) is a whole batch, read with one
    sorted fancy-index per shard and feature and returned in the order asked. Use it with
    ``DataLoader(ds, sampler=ShardSampler(...), batch_size=None)``, or with any sampler and the
    default collate through ``ds[i]``. Memory maps open lazily in each process (DataLoader
    workers included). Pages read stay mapped: they count in RSS as file pages, shared with the
    page cache and reclaimable, while the loader's own memory stays small (docs/performance.md).
    """

    def __init__(
        self,
        root: Path | str | None = None,
        split: str = "train",
        features: Sequence[str] | None = None,
        index: Index | None = None,
    ):
        if index is None:
            if root is None:
                raise TypeError("ShardDataset needs root or index")
            index = load_index(root)
        self.index, self.split = index, split
        self.shards = index.shards(split)
        names = list(features) if features is not None else [f.name for f in index.features]
        self.features = [index.feature(n) for n in names]
        counts = [s.num_samples for s in self.shards]
        self.offsets = np.cumsum([0, *counts], dtype=np.int64)
        self._maps: list[list[np.memmap]] | None = None
        self._views: list[list[np.ndarray]] | None = None
        self._pid = -1

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: Any) -> tuple[torch.Tensor, ...]:
        if isinstance(i, (int, np.integer)):
            return tuple(t[0] for t in self._read(np.array([i], dtype=np.int64)))
        return self._read(np.asarray(i, dtype=np.int64))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = state["_views"] = None  # a memmap pickles as its data: reopen instead
        return state

    def _read(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        n = len(self)
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {n} samples in split '{self.split}'")
        arrays = self._open()
        order = np.argsort(idx, kind="stable")
        sidx = idx[order]
        cuts = np.searchsorted(sidx, self.offsets)
        hits = [
            (s, sidx[cuts[s] : cuts[s + 1]] - self.offsets[s])
            for s in np.flatnonzero(cuts[1:] > cuts[:-1])
        ]
        outs = []
        for k, f in enumerate(self.features):
            parts = [arrays[s][k][local] for s, local in hits]
            ordered = np.empty((len(idx), *f.shape), dtype=f.dtype)
            ordered[order] = parts[0] if len(parts) == 1 else np.concatenate(parts)
            outs.append(torch.from_numpy(ordered))
        return tuple(outs)

    def _open(self) -> list[list[np.ndarray]]:
        """Per shard, per feature: a plain ndarray view of the memmap (faster to index)."""
        if self._maps is None or self._pid != os.getpid():
            self._maps = [
                [
                    np.load(self.index.file_path(s.files[f.name]), mmap_mode="r")
                    for f in self.features
                ]
                for s in self.shards
            ]
            self._views = [[mm.view(np.ndarray) for mm in shard] for shard in self._maps]
            self._pid = os.getpid()
        assert self._views is not None
        return self._views
