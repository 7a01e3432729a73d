"""A map-style dataset over the shards of one split, read through NumPy memory maps."""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trn.data.index import Index, load_index

PAGE = mmap.PAGESIZE
MAX_MAPPED = 256 * 2**20


class ShardDataset(Dataset):
    """Global index -> (shard, offset) by binary search over the shard offsets.

    ``ds[i]`` is one sample; ``ds[indices]`` (a sequence or array) is a whole batch, read with one
    sorted fancy-index per shard and feature and returned in the order asked. Use it with
    ``DataLoader(ds, sampler=ShardSampler(...), batch_size=None)``, or with any sampler and the
    default collate through ``ds[i]``. Memory maps open lazily in each process (DataLoader
    workers included); every ``max_mapped_bytes`` of reads their pages are unmapped (the data
    stays in the page cache), so a pass over the dataset does not grow RSS to its size.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        split: str = "train",
        features: Sequence[str] | None = None,
        index: Index | None = None,
        max_mapped_bytes: int | None = MAX_MAPPED,
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
        self.max_mapped_bytes = max_mapped_bytes
        self._touch = [
            max(PAGE, np.dtype(f.dtype).itemsize * int(np.prod(f.shape))) for f in self.features
        ]
        self._maps: list[list[np.memmap]] | None = None
        self._pid = -1
        self._mapped = 0

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: Any) -> tuple[torch.Tensor, ...]:
        if isinstance(i, (int, np.integer)):
            return tuple(t[0] for t in self._read(np.array([i], dtype=np.int64)))
        return self._read(np.asarray(i, dtype=np.int64))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = None  # a memmap pickles as its whole array: reopen in the worker instead
        return state

    def _read(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        n = len(self)
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {n} samples in split '{self.split}'")
        maps = self._open()
        order = np.argsort(idx, kind="stable")
        sidx = idx[order]
        bounds = np.searchsorted(sidx, self.offsets)
        outs = [np.empty((len(idx), *f.shape), dtype=f.dtype) for f in self.features]
        for s in np.flatnonzero(bounds[1:] > bounds[:-1]):
            a, b = bounds[s], bounds[s + 1]
            local, pos = sidx[a:b] - self.offsets[s], order[a:b]
            for out, mm in zip(outs, maps[s]):
                out[pos] = mm[local]
        self._account(len(idx))
        return tuple(torch.from_numpy(out) for out in outs)

    def _open(self) -> list[list[np.memmap]]:
        if self._maps is None or self._pid != os.getpid():
            self._maps = [
                [
                    np.load(self.index.file_path(s.files[f.name]), mmap_mode="r")
                    for f in self.features
                ]
                for s in self.shards
            ]
            self._pid, self._mapped = os.getpid(), 0
        return self._maps

    def _account(self, rows: int) -> None:
        if self.max_mapped_bytes is None or self._maps is None:
            return
        self._mapped += rows * sum(self._touch)
        if self._mapped >= self.max_mapped_bytes:
            self._mapped = 0
            for shard in self._maps:
                for mm in shard:
                    _unmap_pages(mm)


def _unmap_pages(mm: np.memmap) -> None:
    """Drop this process's mapping of the pages read so far; the page cache keeps them."""
    m = getattr(mm, "_mmap", None)
    if m is not None and hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        m.madvise(mmap.MADV_DONTNEED)
