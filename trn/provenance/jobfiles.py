"""Read a job's provenance back: its resolved config, code, environment and patch digest.

Read commands use these, so nothing here imports torch, lightning or hydra (PyYAML only).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from trn.errors import UsageError
from trn.jobdir import JobDir
from trn.provenance.code import PATCH
from trn.provenance.environment import ENVIRONMENT
from trn.registry.record import JobRecord

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_of(record: JobRecord) -> dict[str, Any]:
    """The resolved config the job ran (``config.yaml`` in its job dir)."""
    path = Path(record.config_path or JobDir(record.job_dir).config)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # safe: a SafeLoader
    except FileNotFoundError:
        raise UsageError(
            f"job {record.job_id} has no {path.name} in {path.parent} (moved or deleted?)"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UsageError(f"{path}: unreadable config ({err}); the job cannot be compared") from None
    return data if isinstance(data, dict) else {}


def code_of(record: JobRecord) -> dict[str, Any] | None:
    """The record's ``code``: a top-level field, or (until the record has one) ``extra.code``."""
    code = record.code
    if code is None:
        code = record.extra.get("code")
    return code if isinstance(code, dict) else None


def patch_sha256(record: JobRecord, code: dict[str, Any] | None) -> str | None:
    """The digest of the job's ``code.patch`` (recorded at capture, else hashed now)."""
    if not code or not code.get("dirty"):
        return None
    if code.get("patch_sha256"):
        return str(code["patch_sha256"])
    try:
        return hashlib.sha256((Path(record.job_dir) / PATCH).read_bytes()).hexdigest()
    except OSError:
        return None


def environment_of(record: JobRecord) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(record.job_dir) / ENVIRONMENT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
