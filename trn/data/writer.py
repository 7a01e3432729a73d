"""Write shards (one ``.npy`` per feature per shard), then ``index.json`` last as the commit marker."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trn.data.index import FORMAT, INDEX, Feature, load_index
from trn.data.npyfile import npy_bytes, storage_dtype
from trn.data.progress import Progress
from trn.errors import UsageError
from trn.fsutil import atomic_write_json

Chunk = Mapping[str, np.ndarray]


def prepare_out(out: Path, force: bool) -> None:
    """Create ``out``; an existing dataset there is an error, or with ``force`` is removed first."""
    if (out / INDEX).exists():
        if not force:
            raise UsageError(f"{out} already holds a dataset; pass --force to replace it")
        old = load_index(out)
        for shards in old.splits.values():
            for shard in shards:
                for ref in shard.files.values():
                    old.file_path(ref).unlink(missing_ok=True)
        (out / INDEX).unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_split(
    out: Path, split: str, chunks: Iterable[Chunk], features: list[Feature], progress: Progress
) -> list[dict[str, Any]]:
    """Write each chunk as one shard of ``split``; the index entries of the shards."""
    (out / split).mkdir(parents=True, exist_ok=True)
    shards = []
    for number, chunk in enumerate(chunks):
        files = {f.name: _write_file(out, split, number, f, chunk[f.name]) for f in features}
        shards.append({"num_samples": len(chunk[features[0].name]), "files": files})
        progress.advance()
    return shards


def _write_file(out: Path, split: str, number: int, f: Feature, array: np.ndarray) -> dict:
    rel = f"{split}/{number:05d}-{f.name}.npy"
    data = npy_bytes(np.asarray(array, dtype=storage_dtype(f.dtype)))
    (out / rel).write_bytes(data)
    return {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_index(
    out: Path, meta: Mapping[str, str], features: list[Feature], splits: dict[str, list]
) -> None:
    """Write ``index.json`` (sorted keys, stable bytes) after every shard is on disk."""
    doc: dict[str, Any] = {"format": FORMAT, **meta, "splits": splits}
    doc["features"] = [_feature_doc(f) for f in features]
    atomic_write_json(out / INDEX, doc)
    (out / INDEX).chmod(0o644)  # the temp file was private; a dataset is for reading


def _feature_doc(f: Feature) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": f.name, "dtype": f.dtype, "shape": list(f.shape)}
    if f.num_classes is not None:
        doc["num_classes"] = f.num_classes
    if f.class_names is not None:
        doc["class_names"] = list(f.class_names)
    return doc
