"""``trn gc``: which ended jobs and checkpoints to delete, and deleting them so that a crash at
any instant leaves no job half-deleted that ``trn list`` still shows.

A job is removed in three steps: its row leaves the index (``trn list`` no longer shows it; the
dir is still whole, so ``trn reindex`` would bring it back intact), its dir is renamed into
``$TRN_HOME/trash/`` (atomic, same filesystem; ``trn reindex`` no longer finds it), then its
lines leave ``jobs/index.jsonl`` and the trash copy is deleted. A gc killed half way leaves at
most a dir in ``trash/``, which the next gc finishes first.

Never collected: a job whose supervisor or runner is alive (``effective_state``), a job another
kept job resumed from (its parent chain) or whose checkpoint a kept job's ``resume:`` or
``weights:`` names. Thinning keeps each job's newest and best checkpoints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from trn import fsutil, proc
from trn.errors import UsageError
from trn.jobdir import HomeDir, JobDir
from trn.registry.record import LIVE, STATES, JobRecord, JobView, view
from trn.registry.store import Registry
from trn.registry.thin import META_SUFFIX, removable
from trn.timestamps import seconds

DEFAULT_STATES = ("failed", "cancelled", "lost")
_AGE_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``30d`` -> seconds; units s, m, h, d, w."""
    match = _AGE_RE.match(text.strip())
    if not match:
        raise UsageError(f"--older-than {text!r}: expected a number and a unit, e.g. 30d, 12h, 2w")
    return float(match[1]) * _UNIT_S[match[2]]


def parse_states(text: str) -> tuple[str, ...]:
    states = tuple(s.strip() for s in text.split(",") if s.strip())
    for s in states:
        if s in LIVE:
            raise UsageError(
                f"--state {s}: a live job is never collected; use {','.join(DEFAULT_STATES)}"
            )
        if s not in STATES:
            raise UsageError(
                f"--state {s!r}: unknown state; one of {', '.join(sorted(set(STATES) - LIVE))}"
            )
    return states or DEFAULT_STATES


@dataclass
class GcPlan:
    jobs: list[JobView] = field(default_factory=list)  # to remove, as shown
    kept: list[tuple[JobView, str]] = field(default_factory=list)  # (job, why kept)
    files: list[Path] = field(default_factory=list)  # checkpoint files of kept jobs to delete
    job_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(self.job_bytes.values()) + sum(_size(p) for p in self.files)


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _ended_ago(record: JobRecord, now: float) -> float:
    stamp = record.ended_at or record.heartbeat_at or record.created_at or ""
    at = seconds(stamp)
    return 0.0 if at is None else now - at


def _alive(record: JobRecord) -> bool:
    """Anything of the job still running here: its state, or its runner's pid."""
    if view(record).state in LIVE:
        return True
    return record.host == socket.gethostname() and proc.alive(record.runner_pid)


def _references(record: JobRecord) -> dict[Path, str]:
    """The checkpoint files a job's config.yaml loads (``resume:``, ``weights:``), both halves,
    each with why it is kept."""
    try:
        config = yaml.safe_load(JobDir(record.job_dir).config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[Path, str] = {}
    for key in ("resume", "weights"):
        value = config.get(key) if isinstance(config, dict) else None
        if not isinstance(value, str) or os.sep not in value:
            continue  # unset, or a job id: that job is the parent, kept by the chain
        path = Path(value).resolve()
        stem = path.name[: -len(META_SUFFIX)] if path.name.endswith(META_SUFFIX) else path.stem
        why = f"job {record.job_id} loads {path.name} ({key}:)"
        for p in (path, path.with_name(stem + ".ckpt"), path.with_name(stem + META_SUFFIX)):
            out[p] = why
    return out


def plan(
    registry: Registry,
    states: tuple[str, ...] = DEFAULT_STATES,
    older_than_s: float | None = None,
    sweep_id: str | None = None,
    thin: bool = False,
    now: float | None = None,
) -> GcPlan:
    now = time.time() if now is None else now
    views = [view(r) for r in registry.list(limit=None)]
    records = [v.record for v in views]
    by_id = {v.record.job_id: v for v in views}
    chosen = {
        v.record.job_id
        for v in views
        if v.state in states
        and (sweep_id is None or v.record.sweep_id == sweep_id)
        and (older_than_s is None or _ended_ago(v.record, now) >= older_than_s)
    }
    out = GcPlan()
    for job_id in sorted(chosen):
        if _alive(by_id[job_id].record):
            chosen.discard(job_id)
            out.kept.append((by_id[job_id], "its process is still alive"))
    # what the kept jobs need: their parents and the checkpoints they load; to a fixed point,
    # since a job kept for a child keeps its own parent
    changed = True
    while changed:
        changed = False
        kept = [r for r in records if r.job_id not in chosen]
        protected: dict[Path, str] = {}
        for r in kept:
            protected.update(_references(r))
        for r in kept:
            parent = r.parent_job_id
            if parent is not None and parent in chosen:
                chosen.discard(parent)
                out.kept.append((by_id[parent], f"job {r.job_id} resumed from it"))
                changed = True
        for job_id in sorted(chosen):
            root = Path(by_id[job_id].record.job_dir).resolve()
            why = next((w for p, w in protected.items() if root in p.parents), None)
            if why is not None:
                chosen.discard(job_id)
                out.kept.append((by_id[job_id], why))
                changed = True
    out.jobs = [by_id[j] for j in sorted(chosen)]
    out.job_bytes = {v.record.job_id: fsutil.dir_bytes(Path(v.record.job_dir)) for v in out.jobs}
    if thin:
        for r in records:
            if r.job_id not in chosen and not _alive(r):
                out.files += removable(JobDir(r.job_dir).checkpoints, set(protected))
    return out


# -- deleting -------------------------------------------------------------------------------
def trash_dir(registry: Registry) -> Path:
    return HomeDir(registry.home).trash


def remove_job(registry: Registry, record: JobRecord) -> None:
    """Index row, then rename into trash, then manifest and bytes (see the module doc)."""
    job_dir = Path(record.job_dir)
    if _alive(Registry.load(job_dir)):  # it may have been resumed in place since the plan
        return
    registry.index.delete(record.job_id)
    trash = trash_dir(registry)
    trash.mkdir(parents=True, exist_ok=True)
    os.replace(job_dir, trash / record.job_id)
    fsutil.fsync_dir(job_dir.parent)
    finish_trash(registry)


def finish_trash(registry: Registry) -> int:
    """Drop the trashed jobs' manifest lines and delete them; what an interrupted gc left."""
    trash = trash_dir(registry)
    gone = sorted(p.name for p in trash.iterdir()) if trash.is_dir() else []
    if not gone:
        return 0
    manifest = HomeDir(registry.home).manifest
    if manifest.exists():
        lines = manifest.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if _line_job(ln) not in gone]
        if len(kept) != len(lines):
            fsutil.atomic_write_bytes(manifest, "".join(ln + "\n" for ln in kept).encode())
    for name in gone:
        shutil.rmtree(trash / name, ignore_errors=True)
    return len(gone)


def _line_job(line: str) -> str | None:
    try:
        job_id = json.loads(line).get("job_id")
    except (ValueError, AttributeError):
        return None
    return job_id if isinstance(job_id, str) else None


def remove_files(files: list[Path]) -> None:
    for path in files:  # metas come before their .ckpt: un-commit first
        path.unlink(missing_ok=True)
