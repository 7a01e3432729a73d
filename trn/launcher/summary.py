"""The end of a sweep: its jobs sorted by the objective, failures with their one-line reasons."""

from __future__ import annotations

import math
from typing import Any

ORDER = {"completed": 0, "preempted": 1, "failed": 2, "cancelled": 3, "lost": 4}


def summarize(
    sweep_id: str,
    records: list[dict[str, Any]],
    objective: dict[str, Any],
    state: str,
    duration_s: float,
) -> dict[str, Any]:
    objective = ranked_by(objective, records)
    metric, mode = objective.get("metric"), objective.get("mode", "max")
    rows = [_row(r, metric) for r in sorted(records, key=lambda r: r["job_id"])]
    sign = -1 if mode == "max" else 1

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row["value"]
        has = isinstance(value, int | float) and math.isfinite(value)
        return (ORDER.get(row["state"], 5), not has, sign * value if has else 0)

    rows.sort(key=key)
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ORDER}
    best = next((r for r in rows if r["state"] == "completed" and r["value"] is not None), None)
    return {
        "sweep_id": sweep_id,
        "state": state,
        "objective": {"metric": metric, "mode": mode},
        "duration_s": round(duration_s, 3),
        "jobs": rows,
        "counts": {k: v for k, v in counts.items() if v},
        "best": {"job_id": best["job_id"], "value": best["value"]} if best else None,
    }


def ranked_by(objective: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the sweep ranks by: its objective, unless that is trn's default (nobody chose it)
    and its jobs fell back to another metric they log (their records say which): then that one,
    when they all agree."""
    if not objective.get("default"):
        return objective
    theirs = {
        (o.get("metric"), o.get("mode"))
        for r in records
        if r["state"] == "completed" and (o := r.get("objective") or {}).get("source") == "fallback"
    }
    if len(theirs) == 1:
        metric, mode = theirs.pop()
        if metric:
            return {"metric": metric, "mode": mode}
    return objective


def _row(record: dict[str, Any], metric: str | None) -> dict[str, Any]:
    metrics = record.get("metrics") or {}
    failed = record["state"] != "completed"
    return {
        "job_id": record["job_id"],
        "state": record["state"],
        "value": metrics.get(metric) if metric else None,
        "overrides": list(record.get("overrides") or []),
        "metrics": metrics,
        "duration_s": _duration(record),
        "error": ((record.get("error") or "").splitlines() or [""])[0][:200] if failed else None,
    }


def _duration(record: dict[str, Any]) -> float | None:
    """Seconds from the job's start to its end (None until both are known)."""
    from datetime import datetime

    try:
        start, end = (
            datetime.fromisoformat(str(record[k]).replace("Z", "+00:00"))
            for k in ("started_at", "ended_at")
        )
    except (KeyError, TypeError, ValueError):
        return None
    return round((end - start).total_seconds(), 3)


def varying(rows: list[dict[str, Any]]) -> set[str]:
    """The overrides that differ between jobs (what the sweep swept)."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for o in row["overrides"]:
            key, _, value = o.partition("=")
            seen.setdefault(key, set()).add(value)
    return {k for k, v in seen.items() if len(v) > 1 or len(rows) == 1}


def render(summary: dict[str, Any]) -> str:
    from trn import text as output

    rows, metric = summary["jobs"], summary["objective"]["metric"] or "objective"
    swept = varying(rows)
    table = [
        [
            str(i) if row["state"] == "completed" else "-",
            row["job_id"],
            row["state"],
            output._num(row["value"]) if row["value"] is not None else "-",
            output.fmt_duration(row["duration_s"]) if row.get("duration_s") is not None else "-",
            " ".join(o for o in row["overrides"] if o.partition("=")[0] in swept)
            + (f"  ({row['error']})" if row["error"] else ""),
        ]
        for i, row in enumerate(rows, 1)
    ]
    arrow = "max" if summary["objective"]["mode"] == "max" else "min"
    head = ["#", "JOB", "STATE", f"{metric} ({arrow})", "TIME", "OVERRIDES / REASON"]
    counts = ", ".join(f"{v} {k}" for k, v in summary["counts"].items()) or "no jobs"
    title = (
        f"sweep {summary['sweep_id']} {summary['state']} in {summary['duration_s']:.1f}s: {counts}"
    )
    return title + "\n" + output.table(table, head)
