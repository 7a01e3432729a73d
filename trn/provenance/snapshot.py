"""The code a job ran when its project is not a git work tree: a copy of the project's source.

A project without git still deserves an answer to "what code made this result?". At submit,
the project root's source files (Python, configs, small text) go into ``code.tar.gz`` in the job
dir, size-capped, with a manifest of what was kept (path -> sha256) and what was skipped and why.
``trn diff`` compares two jobs' manifests file by file.

Only a found project (``[tool.trn]``, ``--config-dir``) is copied: the working directory of a
run of trn's bundled model may be anybody's home directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

from trn import fsutil
from trn.jobdir import JobDir

SNAPSHOT = JobDir.CODE_SNAPSHOT
MANIFEST = ".trn-manifest.json"  # inside the archive: {path: sha256} of what it holds
SOURCE = {".py", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".json", ".txt", ".md", ".sh"}
# what is never the project's source: environments, caches, outputs, version control, builds
SKIP_DIRS = {
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", "node_modules", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "outputs", "multirun",
    "lightning_logs", "mlruns", "wandb", "build", "dist", "site-packages",
}  # fmt: skip
FILE_CAP = 256 << 10  # a bigger "source" file is data: listed as skipped
TOTAL_CAP = 4 << 20  # bytes kept in all
COUNT_CAP = 2000  # files kept
LISTED_CAP = 100  # skipped files named; the rest is counted
BUDGET_S = 2.0  # walking a huge tree stops here, saying so


def capture_snapshot(root: Path, job_dir: Path | None, home: Path | None = None) -> dict[str, Any]:
    """The record's ``code`` for a project without git: writes ``code.tar.gz`` into ``job_dir``
    (None: nothing written). ``home``: trn's home, never copied when it lies inside ``root``."""
    kept: dict[str, bytes] = {}
    skipped: list[str] = []
    total, deadline = 0, time.monotonic() + BUDGET_S
    for path, why in _candidates(root, home, deadline):
        rel = path.relative_to(root).as_posix()
        if why:
            skipped.append(f"{rel} ({why})")
            continue
        try:
            data = path.read_bytes()
        except OSError as err:
            skipped.append(f"{rel} (unreadable: {err.strerror or err})")
            continue
        if len(data) > FILE_CAP:
            skipped.append(f"{rel} ({len(data) >> 10} KiB: over {FILE_CAP >> 10} KiB)")
        elif len(kept) >= COUNT_CAP or total + len(data) > TOTAL_CAP:
            skipped.append(
                f"{rel} (the snapshot is full: {COUNT_CAP} files, {TOTAL_CAP >> 20} MiB)"
            )
        else:
            kept[rel] = data
            total += len(data)
    manifest = {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(kept.items())}
    code: dict[str, Any] = {
        "repo": None,
        "commit": None,
        "snapshot": SNAPSHOT if job_dir is not None else None,
        "snapshot_sha256": hashlib.sha256(json.dumps(manifest).encode()).hexdigest(),
        "root": str(root),
        "files": len(kept),
        "bytes": total,
        "skipped": skipped[:LISTED_CAP],
    }
    if len(skipped) > LISTED_CAP:
        code["skipped_more"] = len(skipped) - LISTED_CAP
    if job_dir is not None:
        fsutil.atomic_write_bytes(job_dir / SNAPSHOT, _archive(kept, manifest))
    return code


def _candidates(root: Path, home: Path | None, deadline: float) -> Any:
    """``(path, why_skipped)`` of every source-like file under ``root``, in a stable order."""
    home_real = os.path.realpath(home) if home else None
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not d.endswith(".egg-info")
            and os.path.realpath(os.path.join(top, d)) != home_real
        )
        for name in sorted(files):
            path = Path(top) / name
            if path.suffix.lower() not in SOURCE or path.is_symlink():
                continue
            if time.monotonic() > deadline:
                yield path, f"not read: the walk took over {BUDGET_S:g} s"
                continue
            yield path, None


def _archive(kept: dict[str, bytes], manifest: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, data in [(MANIFEST, json.dumps(manifest, indent=1).encode()), *kept.items()]:
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0  # same content, same bytes
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manifest_of(job_dir: Path) -> dict[str, str] | None:
    """``{path: sha256}`` of a job's snapshot; None when it has none (or it is unreadable)."""
    try:
        with tarfile.open(job_dir / SNAPSHOT, mode="r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            return json.loads(member.read()) if member else None
    except (OSError, tarfile.TarError, KeyError, ValueError):
        return None
