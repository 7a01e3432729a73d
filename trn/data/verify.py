"""Check a dataset against its index: every problem (``trn data verify``) or the first (training)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from trn.data.cache import ChecksumCache
from trn.data.errors import DatasetError, Problem
from trn.data.index import Feature, FileRef, Index, Shard, fingerprint, load_index
from trn.data.npyfile import read_header, sha256_file, storage_descr

REBUILD = "restore the file or rebuild the dataset with `trn data build`"


def verify(root: Path | str, checksums: bool = True) -> list[Problem]:
    """Every problem with the dataset at ``root``: manifest, files, sizes, headers, checksums."""
    try:
        index = load_index(root)
    except DatasetError as err:
        return err.problems
    return [p for shard, f in _files(index) for p in _file_problems(index, shard, f, checksums)]


def check_dataset(root: Path | str, cache: bool = True, home: Path | None = None) -> Index:
    """Validate the index and check every shard file before training; raise on any problem.

    Sizes and headers are always checked; checksums once per file (remembered by fingerprint
    while its size and mtime do not change), or every time with ``cache=False``.
    """
    index = load_index(root)
    memo = ChecksumCache(fingerprint(index.root), index.root, home) if cache else None
    problems: list[Problem] = []
    for shard, feature in _files(index):
        ref = shard.files[feature.name]
        path = index.file_path(ref)
        known = memo is not None and path.is_file() and memo.verified(ref.path, path)
        found = list(_file_problems(index, shard, feature, checksums=not known))
        if not found and memo is not None:
            memo.remember(ref.path, path)
        problems += found
    if memo is not None:
        memo.save()
    if problems:
        raise DatasetError(index.name, index.root, problems)
    return index


def _files(index: Index) -> Iterator[tuple[Shard, Feature]]:
    for shards in index.splits.values():
        for shard in shards:
            for feature in index.features:
                yield shard, feature


def _file_problems(index: Index, shard: Shard, feature: Feature, checksums: bool) -> list[Problem]:
    ref = shard.files[feature.name]
    where = f"shard {shard.label} feature {feature.name} ({ref.path})"
    path = index.file_path(ref)
    if not path.is_file():
        return [Problem(where, "file is missing", REBUILD)]
    size = path.stat().st_size
    if size != ref.bytes:
        return [Problem(where, f"size is {size} bytes, the index says {ref.bytes}", REBUILD)]
    problems = _header_problems(path, shard, feature, ref)
    if not problems and checksums:
        digest = sha256_file(path)
        if digest != ref.sha256:
            what = f"checksum mismatch (sha256 {digest[:12]}…, the index says {ref.sha256[:12]}…)"
            problems.append(Problem(where, what, REBUILD))
    return [Problem(where, p.what, p.fix) for p in problems]


def _header_problems(path: Path, shard: Shard, feature: Feature, ref: FileRef) -> list[Problem]:
    try:
        head = read_header(path)
    except (OSError, ValueError) as err:
        return [Problem("", f"not a readable .npy file ({err})", REBUILD)]
    out = []
    want = storage_descr(feature.dtype)
    if head.descr != want:
        out.append(Problem("", f"dtype is {head.descr}, the index says {want}", REBUILD))
    if head.shape[1:] != feature.shape:
        what = f"sample shape is {list(head.shape[1:])}, the index says {list(feature.shape)}"
        out.append(Problem("", what, REBUILD))
    rows = head.shape[0] if head.shape else None
    if rows != shard.num_samples:
        what = f"holds {rows} samples, the index says the shard has {shard.num_samples}"
        out.append(Problem("", what, "fix num_samples in index.json or rebuild the dataset"))
    if head.fortran_order:
        out.append(Problem("", "is stored in Fortran order", REBUILD))
    if not out and head.data_offset + head.data_bytes != ref.bytes:
        what = f"header and size disagree ({head.data_offset + head.data_bytes} != {ref.bytes})"
        out.append(Problem("", what, REBUILD))
    return out
