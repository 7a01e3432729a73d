"""``trn status JOB|SWEEP``: one job's record (a unique prefix of the id works, like git), or a
sweep's jobs best first with the overrides they vary."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trn import text as output

if TYPE_CHECKING:
    from trn.registry.record import JobRecord
    from trn.serve.progress import Progress


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="show one job (a unique prefix of its id works), or a sweep",
        description="Show a job's record: state, devices, metrics, code, checkpoint; or, given "
        "a sweep's id, its jobs best first with the overrides that vary, state and duration.",
    )
    p.add_argument("job", metavar="JOB|SWEEP", help="job id (or a unique prefix), or a sweep id")
    p.add_argument("--json", action="store_true", help="the job record as one JSON object")
    p.set_defaults(func=run)


FIELDS = [
    "job_id",
    "state",
    "attempt",
    "parent_job_id",
    "sweep_id",
    "name",
    "created_at",
    "started_at",
    "ended_at",
    "host",
    "hosts",  # a multi-node job's nodes (empty, and not shown, for a local job)
    "devices",
    "overrides",
    "exit_code",
    "error",
    "stop_reason",  # a completed job that stopped early: early stopping, max_time
    "warnings",  # e.g. an event sink that failed (the job itself went on)
    "checkpoint",
    "mlflow_run_id",  # logger=mlflow: the run to look up in MLflow
    "job_dir",
]


def run(args: argparse.Namespace) -> int:
    from trn.lifecycle.backends import backend_of
    from trn.registry.store import Registry
    from trn.registry.sweeps import job_or_sweep

    registry = Registry()
    sweep_dir = job_or_sweep(registry.home, args.job)
    if sweep_dir is not None:
        return _sweep(sweep_dir.name, registry.home, args.json)
    record = registry.find(args.job)
    backend = backend_of(record)
    job = backend.describe(record)  # the state shown, and e.g. Slurm's view of a queued job
    progress = _progress(record)
    if args.json:
        output.print_json({**job.to_dict(), "progress": progress.to_dict() if progress else None})
        return 0
    for key in FIELDS:
        value = job.state if key == "state" else getattr(record, key)
        if value in (None, [], ""):
            continue
        if key == "warnings":  # sentences: one line each
            for warning in value:
                print(f"{'warning:':<15}{warning}")
            continue
        if isinstance(value, list):
            value = " ".join(map(str, value))
        print(f"{key + ':':<15}{value}")
    for key, value in job.details.items():  # e.g. "slurm:  job 42 PENDING"
        label = key.removesuffix("_state") + ":"
        print(f"{label:<15}job {backend.handle(record)} {value}")
    if record.start:  # warm: forked by trn.warm; cold: a fresh python
        took = f" ({record.startup_s:.2f} s to start training)" if record.startup_s else ""
        print(f"{'start:':<15}{record.start}{took}")
    if progress is not None and progress.step is not None:
        print(f"{'progress:':<15}{_progress_line(progress, job.state == 'running')}")
    if record.metrics:
        print(f"{'metrics:':<15}{output.fmt_metrics(record.metrics, 10)}")
    for label, line in _about(record):
        print(f"{label + ':':<15}{line}")
    code = record.code or {}
    if code.get("commit"):  # which code made the job (trn diff compares two)
        dirty = (
            f" + uncommitted changes ({code.get('patch') or 'not kept'})"
            if code.get("dirty")
            else ""
        )
        print(f"{'code:':<15}{code['commit'][:12]} {code.get('branch') or ''}{dirty}".rstrip())
    for line in record.extra.get("log_tail", [])[-5:] if job.state == "failed" else []:
        print(f"{'log:':<15}{line}")
    print(f"{'home:':<15}{_home(registry.home)}")
    return 0


def _progress(record: JobRecord) -> Progress | None:
    """How far the job got and how fast it trains, from its events (the dashboard's reading)."""
    from trn.jobdir import JobDir
    from trn.serve.progress import snapshot

    try:
        return snapshot(JobDir(record.job_dir).events)
    except (OSError, ValueError):
        return None


def _progress_line(p: Any, running: bool) -> str:
    """``step 120 of 400 (30%), 1850 samples/s, ETA 0:42`` (``... samples/s (29600 tokens/s)``
    where the batches are token ids); the ETA only while it runs."""
    where = f"step {p.step}" + (f" of {p.total_steps}" if p.total_steps else "")
    if p.unit == "epochs":
        where = f"epoch {p.epochs_done} of {p.max_epochs}"
    parts = [where + (f" ({p.fraction:.0%})" if p.fraction is not None else "")]
    if p.samples_per_s:
        tokens = f" ({p.tokens_per_s:.4g} tokens/s)" if p.tokens_per_s else ""
        parts.append(f"{p.samples_per_s:.4g} samples/s{tokens}")
    if running and p.eta_s is not None:
        parts.append(f"ETA {output.fmt_duration(p.eta_s)}")
    return ", ".join(parts)


def _about(record: JobRecord) -> list[tuple[str, str]]:
    """What an eval job evaluated, and what a training job is ranked by (and who chose it)."""
    out = []
    what = record.evaluates
    if record.kind == "eval" and what:
        out.append(("evaluates", f"{what.get('checkpoint')} ({what.get('stage')})"))
    objective = record.objective or {}
    if objective:
        by = f"{objective.get('metric')} ({objective.get('mode')})"
        if objective.get("metric") is None:
            by = "nothing: the last checkpoint stands for the best"
        why = {
            "default": ", trn's default",
            "fallback": ", trn's default val/acc was never logged: the first it logs of "
            "val/loss, val/acc, ...",
        }.get(str(objective.get("source")), "")
        out.append(("objective", by + why))
    return out


def _home(home: Any) -> str:
    """The TRN_HOME this read, and what chose it (TRN_HOME, a project, the working dir)."""
    from trn.paths import home_and_source

    default, chosen = home_and_source()
    return f"{home} ({'chosen by ' + chosen if home == default else 'given'})"


def _sweep(sweep_id: str, home: Any, as_json: bool) -> int:
    from trn.api import sweep
    from trn.launcher.summary import render

    summary = sweep(sweep_id, home)
    if as_json:
        output.print_json(summary)
    else:
        print(render(summary))
    return 0
