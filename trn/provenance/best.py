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
from trn.jobdir import JobDir
from trn.provenance.jobfiles import config_of
from trn.registry.index import Search
from trn.registry.record import JobRecord
from trn.registry.store import Registry

MODES = ("min", "max")
PAGE = 200  # ranked jobs looked at first for one with the objective


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
    conf = objective_of(newest[0])
    if metric and conf.get("metric") != metric:
        raise UsageError(f"--metric {metric}: give --mode min or --mode max too")
    metric, mode = metric or conf.get("metric"), mode or conf.get("mode")
    if not metric or mode not in MODES:
        raise UsageError(
            f"job {newest[0].job_id} has no objective.metric/objective.mode in its config; "
            "give --metric M --mode min|max"
        )
    return str(metric), str(mode)


def objective_of(record: JobRecord) -> dict[str, Any]:
    """A job's ``objective`` (``{metric, mode}``): its record's (what it was ranked by: a
    fallback's too), else its config's."""
    if record.objective and record.objective.get("metric"):
        return dict(record.objective)
    try:
        return dict(config_of(record).get("objective") or {})
    except UsageError:
        return {}


def mode_of(registry: Registry, metric: str, sweep_id: str | None = None) -> str | None:
    """Whether higher or lower ``metric`` is better, as the newest job whose objective names
    it says (``max``, ``min``); None when no job's does."""
    for record in registry.index.search(Search(["completed"], sweep_id, limit=200)):
        conf = record.objective or {}
        if conf.get("metric") == metric and conf.get("mode") in MODES:
            return str(conf["mode"])
    return None


def best_job(
    registry: Registry,
    sweep_id: str | None = None,
    metric: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """The best completed job. Without ``sweep_id`` and ``metric``, only the jobs whose own
    objective is the newest job's are compared (a job that minimised val/loss is no rival of
    one that maximised val/acc); ``left_out`` counts the others."""
    chosen = metric is None
    metric, mode = objective(registry, sweep_id, metric, mode)
    index = registry.index
    ranked = index.search(  # training jobs: an eval job's metrics are its checkpoint's again
        Search(
            ["completed"], sweep_id, sort=metric, descending=mode == "max", limit=PAGE, kind="train"
        )
    )
    if not ranked:
        known = ", ".join(index.metric_names()) or "none yet"
        raise UsageError(f"no completed job has the metric {metric}; metrics: {known}")
    alike, left_out = ranked, 0
    if chosen and sweep_id is None:
        want = {"metric": metric, "mode": mode}
        alike = [r for r in ranked if _same(objective_of(r), want)]
        if not alike and len(ranked) == PAGE:  # none alike among the best: look at them all
            ranked = index.search(
                Search(["completed"], None, sort=metric, descending=mode == "max", kind="train")
            )
            alike = [r for r in ranked if _same(objective_of(r), want)]
        left_out = len(ranked) - len(alike)
        if not alike:
            raise UsageError(
                f"no completed job has the objective {metric} ({mode}) and that metric; "
                "give --metric M --mode min|max to compare them"
            )
    record = alike[0]
    chain = chain_of(registry, record)
    return {
        "job_id": record.job_id,
        "sweep_id": record.sweep_id,
        "metric": metric,
        "mode": mode,
        "value": record.metrics[metric],
        "chain": [r.job_id for r in chain],
        "checkpoint": best_checkpoint(chain, metric, mode),
        "job_dir": record.job_dir,
        "compared": len(alike),
        "left_out": left_out,  # completed jobs with another objective, not compared
    }


def _same(conf: dict[str, Any], want: dict[str, Any]) -> bool:
    return conf.get("metric") == want["metric"] and conf.get("mode", "max") == want["mode"]


def chain_of(registry: Registry, record: JobRecord) -> list[JobRecord]:
    """The resume chain through ``record``: its ancestors, itself, its descendants (oldest first)."""
    chain = [record]
    seen = {record.job_id}
    parent = record.parent_job_id
    while parent and parent not in seen:
        try:
            up = registry.find(parent)
        except (NotFound, UsageError):  # a deleted ancestor ends the chain there
            break
        chain.insert(0, up)
        seen.add(parent)
        parent = up.parent_job_id
    todo = [record.job_id]
    while todo:
        for child in registry.index.children(todo.pop()):
            if child.job_id not in seen:
                seen.add(child.job_id)
                chain.append(child)
                todo.append(child.job_id)
    return chain


def best_checkpoint(chain: list[JobRecord], metric: str, mode: str) -> dict[str, Any] | None:
    """The verified checkpoint with the best ``metric`` in any job dir of the chain; else the
    newest valid checkpoint of the chain's last job that has one; None when there is none."""
    scored: list[tuple[float, Path, dict[str, Any]]] = []
    for record in chain:
        for meta_path in sorted(JobDir(record.job_dir).checkpoints.glob(f"*{META_SUFFIX}")):
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
        latest = find_latest(JobDir(record.job_dir).checkpoints)
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
    if best.get("left_out"):
        lines.append(
            f"{'compared:':<12}{best['compared']} job(s) with this objective; "
            f"{best['left_out']} with another objective left out (--metric/--mode to choose)"
        )
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
