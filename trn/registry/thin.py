"""Which checkpoints of a job gc may delete: all but the newest, the best and the protected.

A checkpoint is ``NAME.ckpt`` + ``NAME.meta.json`` (the commit marker); ``latest.json`` and
``best.json`` name a meta. Read as plain JSON here (the registry sits beside the checkpoint
package, not above it). Deleting takes the meta first, so a crash in between leaves a ``.ckpt``
without a meta, which nothing reads and the next gc removes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir

META_SUFFIX = ".meta.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def best_meta(metas: dict[str, dict[str, Any]]) -> str | None:
    """The meta name that is best by each meta's own ``objective`` (metric, mode)."""
    best: tuple[float, str] | None = None
    for name, meta in metas.items():
        objective = (meta.get("config") or {}).get("objective") or {}
        value = (meta.get("metrics") or {}).get(objective.get("metric"))
        if not isinstance(value, (int, float)):
            continue
        key = -float(value) if objective.get("mode") == "max" else float(value)
        if best is None or key < best[0]:
            best = (key, name)
    return best[1] if best else None


def removable(checkpoint_dir: Path, protected: set[Path]) -> list[Path]:
    """The files of ``checkpoint_dir`` gc may delete, metas before their ``.ckpt``; the newest,
    the best (by ``best.json`` and by the metas' objective) and ``protected`` files stay, and
    so do the ``.ckpt`` files their metas name."""
    if not checkpoint_dir.is_dir():
        return []
    metas = {p.name: _read(p) for p in sorted(checkpoint_dir.glob(f"*{META_SUFFIX}"))}
    keep = {_read(checkpoint_dir / n).get("meta") for n in (JobDir.LATEST, JobDir.BEST)}
    keep.add(best_meta(metas))
    if not (checkpoint_dir / JobDir.LATEST).exists() and metas:  # keep the newest by step
        keep.add(max(metas, key=lambda n: (metas[n].get("step", -1), n)))
    keep |= {p.name for p in protected if p.parent == checkpoint_dir.resolve()}
    kept_ckpts = {str(metas[n].get("ckpt")) for n in metas if n in keep}
    out = [checkpoint_dir / n for n in metas if n not in keep]
    out += [
        checkpoint_dir / str(metas[p.name].get("ckpt")) for p in out if metas[p.name].get("ckpt")
    ]
    for ckpt in sorted(checkpoint_dir.glob("*.ckpt")):  # no meta (torn by a crash), or .tmp-*
        if ckpt.name not in kept_ckpts and ckpt not in out and ckpt.resolve() not in protected:
            if ckpt.name[:-5] + META_SUFFIX not in metas or ckpt.name.startswith(".tmp-"):
                out.append(ckpt)
    return [p for p in out if p.name and p.exists()]


@dataclass(frozen=True)
class Saved:
    """A committed checkpoint as its meta describes it."""

    meta: Path
    ckpt: Path
    step: int | None
    epoch: int | None
    metrics: dict[str, Any]


def saved(checkpoint_dir: Path, pointer: str) -> Saved | None:
    """The checkpoint ``latest.json`` or ``best.json`` names, if its meta is still there: what
    a summary of the job says was saved (what was last printed may have been deleted since)."""
    name = _read(Path(checkpoint_dir) / pointer).get("meta")
    if not isinstance(name, str) or "/" in name:
        return None
    meta = _read(Path(checkpoint_dir) / name)
    if not meta:
        return None
    step, epoch, metrics = meta.get("step"), meta.get("epoch"), meta.get("metrics")
    return Saved(
        meta=Path(checkpoint_dir) / name,
        ckpt=Path(checkpoint_dir)
        / str(meta.get("ckpt") or name.removesuffix(META_SUFFIX) + ".ckpt"),
        step=step if isinstance(step, int) else None,
        epoch=epoch if isinstance(epoch, int) else None,
        metrics=metrics if isinstance(metrics, dict) else {},
    )
