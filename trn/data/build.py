"""``trn data build``: turn an ``.npz`` of arrays or a CSV with a label column into a dataset."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trn.data.index import Feature, Index, load_index
from trn.data.progress import Progress
from trn.data.writer import Chunk, prepare_out, write_index, write_split
from trn.errors import UsageError

DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}


@dataclass
class BuildOptions:
    shard_size: int = 65536
    splits: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "val": 0.2})
    seed: int = 0
    label: str | None = None  # npz: the label array (default "y"); csv: the column ("label")
    name: str | None = None  # default: the output directory's name
    version: str = "1.0.0"
    description: str = ""
    license: str = "unspecified"
    source: str | None = None
    force: bool = False


def build(src: Path, out: Path, opts: BuildOptions, show_progress: bool = True) -> Index:
    """Read ``src``, split it deterministically by ``opts.seed``, write shards and the index."""
    if opts.shard_size < 1:
        raise UsageError(f"--shard-size must be at least 1, got {opts.shard_size}")
    arrays, label = read_arrays(Path(src), opts.label)
    features = infer_features(arrays, label)
    parts = split_indices(len(arrays[features[0].name]), opts.splits, opts.seed)
    prepare_out(out, opts.force)
    total = sum(-(-len(ix) // opts.shard_size) for ix in parts.values())
    progress = Progress(f"building {out}", total, None if show_progress else False)
    splits = {
        split: write_split(out, split, _chunks(arrays, ix, opts.shard_size), features, progress)
        for split, ix in parts.items()
    }
    meta = {"name": opts.name or out.resolve().name, "version": opts.version}
    meta |= {"description": opts.description, "license": opts.license}
    if opts.source:
        meta["source"] = opts.source
    write_index(out, meta, features, splits)
    return load_index(out)


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.8,val=0.2`` -> fractions that sum to 1."""
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        fractions = {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise UsageError(f"--split '{text}' is not NAME=FRACTION,...; e.g. train=0.8,val=0.2")
    if not fractions or any(v < 0 for v in fractions.values()):
        raise UsageError(f"--split '{text}' needs non-negative fractions; e.g. train=0.8,val=0.2")
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise UsageError(
            f"--split fractions sum to {sum(fractions.values()):g}; make them sum to 1"
        )
    return fractions


def split_indices(n: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Assign samples to splits by a seeded permutation; each split keeps the source order."""
    perm = np.random.default_rng(seed).permutation(n)
    names = list(fractions)
    sizes = [round(n * fractions[k]) for k in names[:-1]]
    sizes.append(n - sum(sizes))
    if min(sizes) < 1:
        raise UsageError(f"{n} samples give an empty split with --split {fractions}")
    bounds = np.cumsum([0, *sizes])
    return {k: np.sort(perm[bounds[i] : bounds[i + 1]]) for i, k in enumerate(names)}


def _chunks(arrays: dict[str, np.ndarray], ix: np.ndarray, size: int) -> Iterator[Chunk]:
    for start in range(0, len(ix), size):
        rows = ix[start : start + size]
        yield {k: a[rows] for k, a in arrays.items()}


def infer_features(arrays: dict[str, np.ndarray], label: str | None) -> list[Feature]:
    counts = {k: len(a) if a.ndim else 0 for k, a in arrays.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise UsageError(f"arrays must share a non-empty first dimension, got {counts}")
    features = []
    for name, a in arrays.items():
        if a.dtype.name not in DTYPES:
            raise UsageError(f"array '{name}' has dtype {a.dtype}; use one of {sorted(DTYPES)}")
        classes = None
        if name == label and a.dtype.kind in "iu":
            if a.ndim != 1 or a.min() < 0:
                raise UsageError(f"label '{name}' must be one integer >= 0 per sample")
            classes = int(a.max()) + 1
        features.append(Feature(name, a.dtype.name, tuple(a.shape[1:]), classes))
    return features


def read_arrays(src: Path, label: str | None) -> tuple[dict[str, np.ndarray], str | None]:
    """The named arrays in ``src`` and the name of the label among them."""
    if not src.is_file():
        raise UsageError(f"--from {src}: no such file")
    if src.suffix == ".npz":
        with np.load(src, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        name = label or "y"
        if label and label not in arrays:
            raise UsageError(f"--label {label}: not in {src} (arrays: {', '.join(arrays)})")
        return arrays, name if name in arrays else None
    if src.suffix == ".csv":
        return _read_csv(src, label or "label"), "y"
    raise UsageError(f"--from {src}: expected an .npz of arrays or a .csv with a label column")


def _read_csv(src: Path, label: str) -> dict[str, np.ndarray]:
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or label not in rows[0]:
        raise UsageError(f"{src}: no '{label}' column in the header; name it with --label")
    col = rows[0].index(label)
    try:
        table = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as err:
        raise UsageError(f"{src}: every value must be a number ({err})")
    y = table[:, col]
    if not np.all(y == np.round(y)):
        raise UsageError(f"{src}: column '{label}' must hold integer class ids 0..K-1")
    return {"x": np.delete(table, col, axis=1).astype(np.float32), "y": y.astype(np.int64)}
