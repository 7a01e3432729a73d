"""``trn plot JOB|SWEEP -o out.png``: metric curves from the events (matplotlib: ``trn[plot]``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trn.errors import NotFound, UsageError

EXAMPLES = """examples:
  trn plot 261128-1520 -o loss.png                     train/loss, val/loss, val/acc of one job
  trn plot 261128-1520-ab12 --metric val/acc -o sweep.png   every job of a sweep, one figure
"""
DEFAULT_METRICS = ["train/loss", "val/loss", "val/acc"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plot",
        help="plot metric curves of a job, or of every job of a sweep",
        description="Draw metrics against the step from the jobs' events into an image "
        "(needs matplotlib: pip install 'trn[plot]').",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="JOB|SWEEP", help="a job id (or unique prefix) or sweep id")
    p.add_argument("--metric", action="append", metavar="M", help="metric to plot (repeatable)")
    p.add_argument("-o", "--output", default=None, help="image file (default: TARGET.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.jobdir import JobDir

    jobs = _jobs(args.target)
    series = {job["job_id"]: curves(JobDir(job["job_dir"]).events) for job in jobs}
    available = sorted({m for by_metric in series.values() for m in by_metric})
    wanted = args.metric or [m for m in DEFAULT_METRICS if m in available] or available[:1]
    missing = [m for m in wanted if m not in available]
    if missing or not wanted:
        raise UsageError(
            f"no metric {', '.join(missing) or 'at all'} in the events of {args.target}; "
            f"available: {', '.join(available) or 'none (has the job logged a step yet?)'}"
        )
    out = Path(args.output or f"{args.target}.png")
    labels = {job["job_id"]: _label(job, len(jobs)) for job in jobs}
    draw(series, wanted, labels, out, title=args.target)
    print(out)
    return 0


def _jobs(target: str) -> list[dict[str, Any]]:
    """The one job ``target`` names, else every job of the sweep it names."""
    from trn.ids import check_job_id
    from trn.registry.store import Registry

    check_job_id(target)
    registry = Registry()
    try:
        return [registry.find(target)]
    except NotFound:
        jobs = registry.list(sweep_id=target, limit=None)
    if not jobs:
        raise NotFound(f"no job or sweep {target!r} in {registry.home} (see `trn list`)")
    return sorted(jobs, key=lambda r: r["job_id"])


def _label(job: dict[str, Any], n_jobs: int) -> str:
    if n_jobs == 1:
        return job["job_id"]
    return job.get("name") or " ".join(job.get("overrides") or []) or job["job_id"]


def curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """metric -> [(step, value)], from ``train`` events where a metric has them, else from
    the per-epoch/validation ones (mixing both would zigzag between step and epoch means)."""
    from trn.events.reader import parse, read_new

    by_phase: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for line in read_new(path, 0)[0]:
        event = parse(line)
        if not event or event.get("event") != "metrics":
            continue
        phase = by_phase.setdefault("train" if event["phase"] == "train" else "epoch", {})
        for key, value in (event.get("metrics") or {}).items():
            if value is not None:
                phase.setdefault(key, []).append((int(event["step"]), float(value)))
    return {**by_phase.get("epoch", {}), **by_phase.get("train", {})}


def draw(
    series: dict[str, dict[str, list[tuple[int, float]]]],
    metrics: list[str],
    labels: dict[str, str],
    out: Path,
    title: str,
) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("trn plot needs matplotlib: pip install 'trn[plot]'") from None
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 3 * len(metrics)), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for job_id, by_metric in series.items():
            points = by_metric.get(metric)
            if points:
                ax.plot(
                    *zip(*points), marker="." if len(points) < 30 else None, label=labels[job_id]
                )
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title)
    axes[0, 0].legend(fontsize="small")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
