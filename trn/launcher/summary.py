"""The end of a sweep: its jobs sorted by the objective, failures with their one-line reasons."""

from __future__ import annotations

import math
from typing import Any

from trn.registry.record import JobView
from trn.timestamps import seconds

# completed jobs first (best first), then pruned ones (also ranked), the live, then the rest
ORDER = {
    "completed": 0,
    "pruned": 1,
    "running": 2,
    "submitted": 3,
    "preempted": 4,
    "failed": 5,
    "cancelled": 6,
    "lost": 7,
}


def summarize(
    sweep_id: str,
    records: list[JobView],
    objective: dict[str, Any],
    state: str,
    duration_s: float,
    first_failure: str | None = None,
) -> dict[str, Any]:
    """The sweep's table as data (each job as shown: ``lost`` where it is);
    ``first_failure`` (``--fail-fast``: the job that stopped the sweep) is listed first."""
    objective = ranked_by(objective, records)
    metric, mode = objective.get("metric"), objective.get("mode", "max")
    latest = current(records)
    rows = [_row(r, metric) for r in sorted(latest, key=lambda r: r.record.job_id)]
    sign = -1 if mode == "max" else 1

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row["value"]
        has = isinstance(value, int | float) and math.isfinite(value)
        first = row["job_id"] != first_failure
        return (first, ORDER.get(row["state"], 8), not has, sign * value if has else 0)

    rows.sort(key=key)
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ORDER}
    best = next((r for r in rows if r["state"] == "completed" and r["value"] is not None), None)
    summary = {
        "sweep_id": sweep_id,
        "state": state,
        "objective": {"metric": metric, "mode": mode},
        "duration_s": round(duration_s, 3),
        "jobs": rows,
        "counts": {k: v for k, v in counts.items() if v},
        "best": {"job_id": best["job_id"], "value": best["value"]} if best else None,
    }
    if first_failure:
        summary["first_failure"] = first_failure
    if len(latest) < len(records):  # a resume's: jobs another job of their point took over
        summary["superseded"] = len(records) - len(latest)
    return summary


def current(records: list[JobView]) -> list[JobView]:
    """Each sweep point's newest job (a resumed or rerun point's earlier jobs are history);
    jobs that name no point are all kept."""
    newest: dict[int, JobView] = {}
    rest = []
    for job in sorted(records, key=lambda r: r.record.job_id):
        point = job.record.sweep_point
        if point is None:
            rest.append(job)
        else:
            newest[int(point)] = job
    return rest + list(newest.values())


def ranked_by(objective: dict[str, Any], records: list[JobView]) -> dict[str, Any]:
    """What the sweep ranks by: its objective, unless that is trn's default (nobody chose it)
    and its jobs fell back to another metric they log (their records say which): then that one,
    when they all agree."""
    if not objective.get("default"):
        return objective
    theirs = {
        (o.get("metric"), o.get("mode"))
        for r in records
        if r.state == "completed" and (o := r.record.objective or {}).get("source") == "fallback"
    }
    if len(theirs) == 1:
        metric, mode = theirs.pop()
        if metric:
            return {"metric": metric, "mode": mode}
    return objective


def _row(job: JobView, metric: str | None) -> dict[str, Any]:
    from trn.text import cause

    record = job.record
    said = job.state not in ("completed", "running", "submitted")
    return {
        "job_id": record.job_id,
        "state": job.state,
        "value": record.metrics.get(metric) if metric else None,
        "overrides": list(record.overrides),
        "metrics": record.metrics,
        "duration_s": _duration(job),
        "error": cause(record.error) if said else None,  # the innermost cause
    }


def _duration(job: JobView) -> float | None:
    """Seconds from the job's creation (its slot was free: it started starting) to its end,
    or to now while it runs. ``started_at`` would leave out the runner's start-up."""
    import time

    start = seconds(job.record.created_at or job.record.started_at)
    if start is None:
        return None
    end = seconds(job.record.ended_at)
    if end is None:
        end = time.time() if job.state in ("running", "submitted") else None
    return None if end is None else round(max(0.0, end - start), 3)


def varying(rows: list[dict[str, Any]]) -> set[str]:
    """The overrides that differ between jobs (what the sweep swept)."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for o in row["overrides"]:
            key, _, value = o.partition("=")
            seen.setdefault(key, set()).add(value)
    return {k for k, v in seen.items() if len(v) > 1 or len(rows) == 1}


def render(summary: dict[str, Any], width: int | None = None) -> str:
    """The sweep as a table whose every line fits ``width`` columns (the terminal's): a
    failure's reason, the last column, is cut to what is left. The title line is whole: what
    ended the sweep (``--fail-fast: job ... failed first``) comes last in it."""
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
            " ".join(o for o in row["overrides"] if o.partition("=")[0] in swept),
        ]
        for i, row in enumerate(rows, 1)
    ]
    arrow = "max" if summary["objective"]["mode"] == "max" else "min"
    head = ["#", "JOB", "STATE", f"{metric} ({arrow})", "TIME", "OVERRIDES / REASON"]
    width = width or output.terminal_width()
    table_lines = output.table(table, head).splitlines()
    lines = table_lines[:1]
    for line, row in zip(table_lines[1:], rows, strict=True):
        room = width - len(line) - 4
        if row["error"] and room >= 20:
            line = f"{line}  ({output.fit(row['error'], room)})"
        lines.append(line)
        if row["error"] and room < 20:  # no room beside it: on a line of its own, below
            lines.append(f"   {row['error']}")
    counts = ", ".join(f"{v} {k}" for k, v in summary["counts"].items()) or "no jobs"
    title = (
        f"sweep {summary['sweep_id']} {summary['state']} in {summary['duration_s']:.1f}s: {counts}"
    )
    if summary.get("first_failure"):
        title += f"; --fail-fast: job {summary['first_failure']} failed first"
    return title + "\n" + "\n".join(output.fit(ln, width) for ln in lines)
