"""Checkpoint metas: read, validate, verify the ``.ckpt`` they describe, find the newest one.

A checkpoint is the pair ``NAME.ckpt`` + ``NAME.meta.json`` in one directory (a job's
``checkpoints/``); the meta is written last and is the commit marker, so a ``.ckpt`` without a
valid meta does not exist. ``latest.json`` (``{"meta": "NAME.meta.json"}``) names the newest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trn.checkpoints import trust
from trn.checkpoints.scan import Broken, CarriesCode, NotWeights, check_torch_file
from trn.errors import NotFound, UsageError
from trn.jobdir import JobDir

META_SCHEMA = "trn.checkpoint/1"
META_SUFFIX = ".meta.json"
LATEST = JobDir.LATEST
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.ckpt$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "job_id": str,
    "step": int,
    "epoch": int,
    "ckpt": str,
    "sha256": str,
    "bytes": int,
    "config": dict,
}


class CheckpointError(UsageError):
    """A checkpoint or meta that is corrupt, truncated, tampered with or unsafe (names the file)."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_meta(meta_path: Path | str) -> dict[str, Any]:
    """The parsed, validated meta; raises :class:`CheckpointError` naming the file."""
    path = Path(meta_path)
    if not path.name.endswith(META_SUFFIX):
        raise UsageError(f"{path}: not a checkpoint meta; give the NAME{META_SUFFIX} file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such checkpoint meta (see `trn status JOB`)") from None
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint meta ({err}); use another") from None
    problems = _problems(meta)
    if problems:
        raise CheckpointError(f"{path}: invalid checkpoint meta ({'; '.join(problems)})")
    return meta


def _problems(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return ["not a JSON object"]
    out = [
        f"{key} missing or not {kind.__name__ if isinstance(kind, type) else kind}"
        for key, kind in _REQUIRED.items()
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool)
    ]
    if out:
        return out
    if meta["schema"] != META_SCHEMA:
        out.append(f"schema {meta['schema']!r} is not {META_SCHEMA!r}")
    if not _NAME_RE.match(meta["ckpt"]) or ".." in meta["ckpt"]:
        out.append(f"ckpt {meta['ckpt']!r} points outside its directory")
    if not _SHA_RE.match(meta["sha256"]):
        out.append("sha256 is not 64 hex digits")
    if meta["bytes"] < 0 or meta["step"] < 0 or meta["epoch"] < 0:
        out.append("negative bytes, step or epoch")
    return out


def ckpt_path(meta_path: Path, meta: dict[str, Any]) -> Path:
    """The ``.ckpt`` beside the meta; refuses one that resolves anywhere else (symlinks too)."""
    folder = Path(meta_path).resolve().parent
    ckpt = folder / meta["ckpt"]
    if ckpt.resolve().parent != folder:
        raise CheckpointError(f"{meta_path}: its ckpt {meta['ckpt']!r} points outside {folder}")
    return ckpt


def check_job_dir(meta_path: Path, meta: dict[str, Any]) -> None:
    """A meta inside a job's ``checkpoints/`` must belong to that job."""
    folder = Path(meta_path).resolve().parent
    record = folder.parent / JobDir.RECORD
    if folder.name != JobDir.CHECKPOINTS or not record.is_file():
        return
    try:
        job_id = json.loads(record.read_text()).get("job_id")
    except (OSError, ValueError):
        return
    if job_id != meta["job_id"]:
        raise CheckpointError(
            f"{meta_path}: meta of job {meta['job_id']!r} inside the job dir of {job_id!r}; "
            "it was moved or tampered with"
        )


def verify(meta_path: Path | str) -> tuple[dict[str, Any], Path]:
    """``(meta, ckpt)`` once the ``.ckpt``'s size and sha256 match the meta."""
    meta_path = Path(meta_path)
    meta = read_meta(meta_path)
    check_job_dir(meta_path, meta)
    ckpt = ckpt_path(meta_path, meta)
    try:
        size = ckpt.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{ckpt}: missing, though {meta_path.name} names it") from None
    if size != meta["bytes"]:
        raise CheckpointError(
            f"{ckpt}: {size} bytes, the meta says {meta['bytes']} (truncated or replaced)"
        )
    if sha256_file(ckpt) != meta["sha256"]:
        raise CheckpointError(f"{ckpt}: sha256 does not match {meta_path.name} (corrupt)")
    return meta, ckpt


def find_latest(checkpoint_dir: Path | str) -> Path | None:
    """The newest valid meta in ``checkpoint_dir``: ``latest.json`` if it verifies, else a scan.

    Invalid candidates are skipped (a crash can only ever leave ``.tmp-*`` files, but a disk can
    still rot). Returns None when there is no valid checkpoint at all.
    """
    folder = Path(checkpoint_dir)
    candidates: list[Path] = []
    try:
        pointed = json.loads((folder / LATEST).read_text()).get("meta")
        if isinstance(pointed, str) and "/" not in pointed:
            candidates.append(folder / pointed)
    except (OSError, ValueError, AttributeError):
        pass
    candidates += sorted(folder.glob(f"*{META_SUFFIX}"), key=_step_of, reverse=True)
    for meta_path in candidates:
        try:
            verify(meta_path)
        except (CheckpointError, NotFound, UsageError):
            continue
        return meta_path
    return None


def _step_of(meta_path: Path) -> tuple[int, str]:
    try:
        return int(json.loads(meta_path.read_text())["step"]), meta_path.name
    except (OSError, ValueError, KeyError, TypeError):
        return -1, meta_path.name


_GIVE = "give a trn .meta.json, a Lightning .ckpt or a torch.save(state_dict) file"
Hint = Callable[[str], str]  # an allow_targets prefix -> the line that would trust it


def default_hint(prefix: str) -> str:
    return f"add its prefix with 'allow_targets=[{prefix}]'"


def judge(
    path: Path, label: str, trusted: Sequence[str] = (), hint: Hint | None = None
) -> set[str]:
    """The one judgement of a checkpoint before trn loads it (``resume``, ``weights=``, ``trn
    eval`` and the runner's load alike): a whole ``torch.save`` file whose pickle names only
    what torch's ``weights_only`` rules or :mod:`trn.checkpoints.trust` allow with the
    ``trusted`` prefixes, each of the latter a class. Returns those; raises
    :class:`CheckpointError` naming ``label``, the global and the fix (``hint``)."""
    try:
        found = check_torch_file(path, tuple(trusted))
    except OSError as err:
        raise CheckpointError(f"{label}: cannot read it ({err.strerror})") from None
    except NotWeights as err:
        raise CheckpointError(f"{label}: {_refusal(err, hint or default_hint)}") from None
    try:
        trust.objects(found)  # imports what it names: torch, the project's code
    except ValueError as err:
        raise CheckpointError(f"{label}: refused, {err}") from None
    return found


def check_weights(path: str, trusted: Sequence[str] = (), hint: Hint | None = None) -> str:
    """``weights=PATH`` as an absolute path, checked now, before any job dir exists: a meta
    verifies; the torch.save file (a meta's ``.ckpt`` too) must be whole and pass
    :func:`judge`, from its pickle's opcodes, never run."""
    resolved = Path(path).expanduser().resolve()
    target = resolved
    if resolved.name.endswith(META_SUFFIX):
        target = verify(resolved)[1]
    elif not resolved.is_file():
        raise NotFound(f"weights={path}: no such file; give a .meta.json, .ckpt or state_dict file")
    label = path if target == resolved else f"{path} ({target.name})"
    judge(target, f"weights={label}", trusted, hint)
    return str(resolved)


def _refusal(err: NotWeights, hint: Hint) -> str:
    if isinstance(err, CarriesCode) and err.prefix:
        return f"{err}; if you trust it, {hint(err.prefix)}"
    if isinstance(err, CarriesCode):
        what, fix = f"refused, {err} (loading it could run code)", f"{_GIVE} of tensors only"
    elif isinstance(err, Broken):
        what, fix = str(err), "save or copy it again"
    else:
        what, fix = f"not a PyTorch checkpoint ({err})", _GIVE
    return f"{what}; {err.fix or fix}"
