"""``trn best``: the completed job with the best objective, and the best checkpoint of its chain.

A resumed job is a new job pointing at its parent (``parent_job_id``), so one training run can
leave checkpoints in several job dirs. The best checkpoint is searched along the whole chain:
every ancestor and every descendant of the best job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trn.checkpoints.meta import META_SUFFIX, CheckpointError, find_latest, read_meta, verify
from trn.errors import NotFound, UsageError
from trn.provenance.jobfiles import config_of
from trn.registry.index import Search
from trn.registry.store import Registry

MODES = ("min", "max")


def objective(
    registry: Registry, sweep_id: str | None, metric: str | None, mode: str | None
) -> tuple[str, str]:
    """``(metric, mode)``: the flags, completed by the newest completed training job's
    ``objective``: the one its record says it was ranked by (trn's default may have fallen back
    to another metric), else its config's."""
    newest = registry.index.search(Search(["completed"], sweep_id, limit=1, kind="train"))
    if not newest:
        where = f" in sweep {sweep_id}" if sweep_id else ""
        raise NotFound(f"no completed job{where} (see `trn list --state completed`)")
    if metric and mode:
        return metric, mode
    conf = newest[0].get("objective") or {}
    if not conf.get("metric"):
        try:
            conf = config_of(newest[0]).get("objective") or {}
        except UsageError:
            conf = {}
    if metric and conf.get("metric") != metric:
        raise UsageError(f"--metric {metric}: give --mode min or --mode max too")
    metric, mode = metric or conf.get("metric"), mode or conf.get("mode")
    if not metric or mode not in MODES:
        raise UsageError(
            f"job {newest[0]['job_id']} has no objective.metric/objective.mode in its config; "
            "give --metric M --mode min|max"
        )
    return str(metric), str(mode)


def best_job(
    registry: Registry,
    sweep_id: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    metric, mode = objective(registry, sweep_id, metric, mode)
    index = registry.index
    found = index.search(  # training jobs: an eval job's metrics are its checkpoint's again
        Search(
            ["completed"], sweep_id, sort=metric, descending=mode == "max", limit=1, kind="train"
        )
    )
    if not found:
        known = ", ".join(index.metric_names()) or "none yet"
        raise UsageError(f"no completed job has the metric {metric}; metrics: {known}")
    record = found[0]
    chain = chain_of(registry, record)
    return {
        "job_id": record["job_id"],
        "sweep_id": record.get("sweep_id"),
        "metric": metric,
        "mode": mode,
        "value": record["metrics"][metric],
        "chain": [r["job_id"] for r in chain],
        "checkpoint": best_checkpoint(chain, metric, mode),
        "job_dir": record["job_dir"],
    }


def chain_of(registry: Registry, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The resume chain through ``record``: its ancestors, itself, its descendants (oldest first)."""
    chain = [record]
    seen = {record["job_id"]}
    parent = record.get("parent_job_id")
    while parent and parent not in seen:
        try:
            up = registry.find(parent)
        except (NotFound, UsageError):  # a deleted ancestor ends the chain there
            break
        chain.insert(0, up)
        seen.add(parent)
        parent = up.get("parent_job_id")
    todo = [record["job_id"]]
    while todo:
        for child in registry.index.children(todo.pop()):
            if child["job_id"] not in seen:
                seen.add(child["job_id"])
                chain.append(child)
                todo.append(child["job_id"])
    return chain


def best_checkpoint(chain: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any] | None:
    """The verified checkpoint with the best ``metric`` in any job dir of the chain; else the
    newest valid checkpoint of the chain's last job that has one; None when there is none."""
    scored: list[tuple[float, Path, dict[str, Any]]] = []
    for record in chain:
        for meta_path in sorted((Path(record["job_dir"]) / "checkpoints").glob(f"*{META_SUFFIX}")):
            try:
                meta = read_meta(meta_path)
            except (CheckpointError, NotFound, UsageError):
                continue
            value = (meta.get("metrics") or {}).get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                scored.append((float(value), meta_path, meta))
    scored.sort(key=lambda s: s[0], reverse=mode == "max")
    for value, meta_path, meta in scored:
        try:
            verify(meta_path)
        except (CheckpointError, NotFound, UsageError):
            continue
        return _describe(meta_path, meta, value)
    for record in reversed(chain):
        latest = find_latest(Path(record["job_dir"]) / "checkpoints")
        if latest is not None:
            meta = json.loads(latest.read_text())
            return _describe(latest, meta, None)
    return None


def _describe(meta_path: Path, meta: dict[str, Any], value: float | None) -> dict[str, Any]:
    return {
        "ckpt": str(meta_path.parent / meta["ckpt"]),
        "meta": str(meta_path),
        "job_id": meta["job_id"],
        "step": meta["step"],
        "epoch": meta["epoch"],
        "value": value,  # None: no checkpoint recorded the metric; this is the newest one
    }


def render(best: dict[str, Any]) -> str:
    sweep = f", sweep {best['sweep_id']}" if best.get("sweep_id") else ""
    lines = [
        f"{'job:':<12}{best['job_id']}{sweep}",
        f"{'objective:':<12}{best['metric']}={best['value']:.6g} ({best['mode']})",
    ]
    ckpt = best["checkpoint"]
    if ckpt is None:
        lines.append(f"{'checkpoint:':<12}none (no valid checkpoint in {', '.join(best['chain'])})")
        return "\n".join(lines)
    at = f"step {ckpt['step']}, job {ckpt['job_id']}"
    if ckpt["value"] is None:
        at += f"; no checkpoint recorded {best['metric']}: the newest one"
    else:
        at = f"{best['metric']}={ckpt['value']:.6g} at {at}"
    lines += [f"{'checkpoint:':<12}{ckpt['ckpt']}", f"{'':<12}{at}"]
    return "\n".join(lines)
