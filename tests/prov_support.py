"""Helpers for the provenance tests: a real git repo outside this one, and job dirs written
directly through the registry (for pure reads: diff, best, list)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from trn.registry.record import JobRecord
from trn.registry.store import Registry

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return out.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in (files or {"train.py": "lr = 0.001\n", "README": "a project\n"}).items():
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-qm", "first")
    return path


def write_job(
    registry: Registry,
    config: dict[str, Any],
    now: float | None = None,
    files: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A job dir with its ``config.yaml`` (and any ``files``: dicts as JSON) and its record."""
    job_id, job_dir = registry.create_job_dir(now=now)
    (job_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for name, content in (files or {}).items():
        data = json.dumps(content) if isinstance(content, dict) else content
        (job_dir / name).write_text(data)
    fields.setdefault("state", "completed")
    record = JobRecord(job_id=job_id, job_dir=str(job_dir), **fields)
    registry.write(record)
    return record.to_dict()


def write_checkpoint(job: dict[str, Any], name: str, metrics: dict[str, float], step: int) -> Path:
    """A committed checkpoint: ``.ckpt`` bytes and a valid ``.meta.json`` naming its sha256."""
    folder = Path(job["job_dir"]) / "checkpoints"
    folder.mkdir(exist_ok=True)
    data = f"weights of {name}".encode()
    (folder / f"{name}.ckpt").write_bytes(data)
    meta = {
        "schema": "trn.checkpoint/1",
        "job_id": job["job_id"],
        "step": step,
        "epoch": 0,
        "ckpt": f"{name}.ckpt",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "metrics": metrics,
        "config": {},
    }
    (folder / f"{name}.meta.json").write_text(json.dumps(meta))
    (folder / "latest.json").write_text(json.dumps({"meta": f"{name}.meta.json"}))
    return folder / f"{name}.ckpt"
