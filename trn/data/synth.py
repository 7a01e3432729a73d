"""``trn data synth``: a synthetic classification dataset of a given size, for benchmarks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from trn.data.index import Feature, Index, load_index
from trn.data.progress import Progress
from trn.data.writer import Chunk, prepare_out, write_index, write_split
from trn.errors import UsageError

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SHARD_BYTES = 64 * 2**20


def parse_size(text: str) -> int:
    """``1GiB``, ``512MiB``, ``100MB``, ``4096`` -> bytes."""
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise UsageError(f"size '{text}' is not a size; e.g. 1GiB, 512MiB, 100MB")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def synth(
    out: Path,
    size: int,
    dim: int = 64,
    classes: int = 10,
    shard_size: int | None = None,
    seed: int = 0,
    force: bool = False,
    show_progress: bool = True,
) -> Index:
    """Write a ``train`` split of about ``size`` bytes: x float32 [dim], y int64 in 0..classes-1."""
    row = dim * 4 + 8
    n = size // row
    if n < 1 or dim < 1 or classes < 1 or (shard_size is not None and shard_size < 1):
        raise UsageError(
            f"--size {size} B, --dim {dim}, --classes {classes}, --shard-size {shard_size}: nothing to write"
        )
    per_shard = shard_size or max(1, SHARD_BYTES // row)
    features = [Feature("x", "float32", (dim,)), Feature("y", "int64", (), classes)]
    prepare_out(out, force)
    progress = Progress(f"synth {out}", -(-n // per_shard), None if show_progress else False)
    chunks = _chunks(n, per_shard, dim, classes, seed)
    shards = write_split(out, "train", chunks, features, progress)
    meta = {"name": out.resolve().name, "version": "1.0.0", "license": "CC0-1.0"}
    meta["description"] = f"synthetic: {n} samples, x ~ N(0, 1) float32 [{dim}], y uniform"
    write_index(out, meta, features, {"train": shards})
    return load_index(out)


def _chunks(n: int, per_shard: int, dim: int, classes: int, seed: int) -> Iterator[Chunk]:
    for number, start in enumerate(range(0, n, per_shard)):
        rng = np.random.default_rng([seed, number])
        m = min(per_shard, n - start)
        x = rng.standard_normal((m, dim), dtype=np.float32)
        yield {"x": x, "y": rng.integers(0, classes, m, dtype=np.int64)}
