"""``trn plot JOB|SWEEP -o out.png``: metric curves from the events (matplotlib: ``trn[plot]``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trn.errors import NotFound, UsageError

if TYPE_CHECKING:
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

EXAMPLES = """examples:
  trn plot 261128-1520 -o curves.png                   every metric of a job (a resumed job: its
                                                       whole chain of attempts)
  trn plot 261128-1520 --metric val/acc -o acc.png     one metric
  trn plot 261128-1520-ab12 --metric val/acc -o sweep.png   every job of a sweep, one figure
"""
LOG_SCALE = ("lr", "learning_rate")  # panels of these names get a log axis: they span decades


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plot",
        help="plot metric curves of a job, or of every job of a sweep",
        description="Draw metrics against the step from the jobs' events into an image, one "
        "panel per kind of metric (train/loss and val/loss share one). "
        "Needs matplotlib: pip install 'trn[plot]'.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="JOB|SWEEP", help="a job id (or unique prefix) or sweep id")
    p.add_argument("--metric", action="append", metavar="M", help="metric to plot (repeatable)")
    p.add_argument("-o", "--output", default=None, help="image file (default: TARGET.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.registry.store import Registry

    jobs, registry = _jobs(args.target), Registry()
    chains = {job.job_id: chain_curves(job, registry) for job in jobs}
    series = {job_id: curves for job_id, (curves, _) in chains.items()}
    available = sorted({m for by_metric in series.values() for m in by_metric})
    wanted = args.metric or available
    missing = [m for m in wanted if m not in available]
    if missing or not wanted:
        raise UsageError(
            f"no metric {', '.join(missing) or 'at all'} in the events of {args.target}; "
            f"available: {', '.join(available) or 'none (has the job logged a step yet?)'}"
        )
    out = Path(args.output or f"{args.target}.png")
    labels = {job.job_id: _label(job, len(jobs)) for job in jobs}
    resumes = sorted({step for _, steps in chains.values() for step in steps})
    draw(series, panels(wanted), labels, out, title=args.target, resumes=resumes)
    print(out)
    return 0


def panels(metrics: list[str]) -> dict[str, list[str]]:
    """Metrics grouped by what they measure, the name after their last ``/``: ``train/loss``
    and ``val/loss`` share the ``loss`` panel; ``lr`` and ``val/ppl`` get their own."""
    out: dict[str, list[str]] = {}
    for metric in metrics:
        out.setdefault(metric.rsplit("/", 1)[-1], []).append(metric)
    return out


def chain_curves(
    record: JobRecord, registry: Registry
) -> tuple[dict[str, list[tuple[int, float]]], list[int]]:
    """A job's curves with its earlier attempts' in front (each up to the step the next one
    resumed from), and the steps where a resume took over."""
    from trn.jobdir import JobDir
    from trn.lifecycle.attempts import chain

    merged: dict[str, list[tuple[int, float]]] = {}
    resumes: list[int] = []
    for attempt in chain(record, registry):
        for metric, points in curves(JobDir(attempt.job_dir).events).items():
            kept = [p for p in points if attempt.until_step is None or p[0] <= attempt.until_step]
            merged.setdefault(metric, []).extend(kept)
        if attempt.until_step is not None:
            resumes.append(attempt.until_step)
    return merged, resumes


def _jobs(target: str) -> list[JobRecord]:
    """The one job ``target`` names, else every job of the sweep it names."""
    from trn.ids import check_job_id
    from trn.registry.store import Registry

    check_job_id(target)
    registry = Registry()
    try:
        return [registry.find(target)]
    except NotFound:
        from trn.registry.sweeps import sweep_id_of

        jobs = registry.list(sweep_id=sweep_id_of(registry.home, target), limit=None)
    if not jobs:
        raise NotFound(f"no job or sweep {target!r} in {registry.home} (see `trn list`)")
    return sorted(jobs, key=lambda r: r.job_id)


def _label(job: JobRecord, n_jobs: int) -> str:
    if n_jobs == 1:
        return job.job_id
    return job.name or " ".join(job.overrides) or job.job_id


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
    groups: dict[str, list[str]],
    labels: dict[str, str],
    out: Path,
    title: str,
    resumes: list[int] | None = None,
) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("trn plot needs matplotlib: pip install 'trn[plot]'") from None
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 3 * len(groups)), squeeze=False)
    for ax, (name, metrics) in zip(axes[:, 0], groups.items()):
        for job_id, by_metric in series.items():
            for metric in metrics:
                points = by_metric.get(metric)
                if not points:
                    continue
                label = labels[job_id] if len(metrics) == 1 else f"{labels[job_id]} {metric}"
                if len(series) == 1:
                    label = metric
                marker = "." if len(points) < 30 else None
                ax.plot(*zip(*points), marker=marker, label=label)
        for step in resumes or []:  # where a resumed attempt took over
            ax.axvline(step, color="grey", linestyle="--", linewidth=0.8)
        if name in LOG_SCALE:
            ax.set_yscale("log")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[-1, 0].set_xlabel("step" + (" (dashed: resumed)" if resumes else ""))
    axes[0, 0].set_title(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
