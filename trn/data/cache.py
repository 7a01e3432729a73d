"""Checksums on first use: remember which shard files were verified, keyed by index fingerprint.

A file counts as verified while its size and mtime are those it had when it was hashed; any change
hashes it again. The cache lives under ``$TRN_HOME/cache/datasets/<fingerprint>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from trn import paths
from trn.fsutil import atomic_write_json
from trn.jobdir import HomeDir


def cache_file(fingerprint: str, home: Path | None = None) -> Path:
    """The cache of a dataset's checksums in ``home`` (default ``$TRN_HOME``)."""
    return HomeDir(home or paths.trn_home()).dataset_cache / f"{fingerprint}.json"


def _stamp(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


class ChecksumCache:
    """The files under one dataset root whose checksums matched, as (size, mtime_ns)."""

    def __init__(self, fingerprint: str, root: Path, home: Path | None = None):
        self.path = cache_file(fingerprint, home)
        self.root = str(root.resolve())
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.files: dict[str, list[int]] = self.data.setdefault(self.root, {})

    def verified(self, rel: str, path: Path) -> bool:
        return self.files.get(rel) == _stamp(path)

    def remember(self, rel: str, path: Path) -> None:
        self.files[rel] = _stamp(path)

    def save(self) -> None:
        """Best effort: a cache that cannot be written only costs a re-hash next time."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, self.data)
        except OSError:
            pass
