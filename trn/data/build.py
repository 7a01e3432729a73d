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
    arrays, label, names = read_arrays(Path(src), opts.label)
    features = infer_features(arrays, label, names)
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


def infer_features(
    arrays: dict[str, np.ndarray], label: str | None, class_names: list[str] | None = None
) -> list[Feature]:
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
            classes = len(class_names) if class_names else int(a.max()) + 1
        names = tuple(class_names) if name == label and class_names else None
        features.append(Feature(name, a.dtype.name, tuple(a.shape[1:]), classes, names))
    return features


def read_arrays(
    src: Path, label: str | None
) -> tuple[dict[str, np.ndarray], str | None, list[str] | None]:
    """The named arrays in ``src``, the name of the label among them, and its class names (a
    CSV whose labels are text)."""
    if not src.is_file():
        raise UsageError(f"--from {src}: no such file")
    if src.suffix == ".npz":
        with np.load(src, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        name = label or "y"
        if label and label not in arrays:
            raise UsageError(f"--label {label}: not in {src} (arrays: {', '.join(arrays)})")
        return arrays, name if name in arrays else None, None
    if src.suffix == ".csv":
        arrays, names = _read_csv(src, label or "label")
        return arrays, "y", names
    raise UsageError(f"--from {src}: expected an .npz of arrays or a .csv with a label column")


def _read_csv(src: Path, label: str) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """Features ``x`` (float32) and labels ``y`` (int64). Labels that are all integers are class
    ids; otherwise each distinct text is a class, numbered in sorted order (the names are kept)."""
    with open(src, newline="") as f:
        reader = csv.reader(f)
        numbered = [(reader.line_num, r) for r in reader if r]  # blank lines skipped
    if not numbered or label not in numbered[0][1]:
        raise UsageError(f"{src}: no '{label}' column in the header; name it with --label")
    header, lines, rows = numbered[0][1], [n for n, _ in numbered[1:]], [r for _, r in numbered[1:]]
    if not rows:
        raise UsageError(f"{src}: no rows under the header")
    col = header.index(label)
    x = np.empty((len(rows), len(header) - 1), dtype=np.float64)
    for n, row in enumerate(rows):
        if len(row) != len(header):
            raise UsageError(
                f"{src}: line {lines[n]} has {len(row)} values, the header {len(header)}"
            )
        values = row[:col] + row[col + 1 :]
        try:
            x[n] = [float(v) for v in values]
        except ValueError:
            bad = next(j for j, v in enumerate(values) if not _is_number(v))
            name = (header[:col] + header[col + 1 :])[bad]
            raise UsageError(
                f"{src}: line {lines[n]}, column '{name}': {values[bad]!r} is not a number; "
                "every column but the label must be numeric"
            ) from None
    labels = [row[col].strip() for row in rows]
    names = None
    if all(_is_number(v) for v in labels):
        numbers = np.array([float(v) for v in labels])
        if not np.all(numbers == np.round(numbers)) or numbers.min() < 0:
            raise UsageError(f"{src}: column '{label}' must hold integer class ids 0..K-1 or names")
        ids = numbers.astype(np.int64).tolist()
    else:
        names = sorted(set(labels))
        number = {name: i for i, name in enumerate(names)}
        ids = [number[v] for v in labels]
    return {"x": x.astype(np.float32), "y": np.asarray(ids, dtype=np.int64)}, names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
