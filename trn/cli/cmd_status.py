"""``trn status JOB``: one job's record (a unique prefix of the id works, like git)."""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="show one job (a unique prefix of its id works)",
        description="Show a job's record: state, devices, metrics, checkpoint.",
    )
    p.add_argument("job", metavar="JOB", help="job id or a unique prefix of one")
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
    "devices",
    "overrides",
    "exit_code",
    "error",
    "warnings",  # e.g. an event sink that failed (the job itself went on)
    "checkpoint",
    "job_dir",
]


def run(args: argparse.Namespace) -> int:
    from trn.lifecycle.backends import backend_of
    from trn.registry.store import Registry

    record = Registry().find(args.job)
    backend = backend_of(record)
    details = backend.details(record)  # e.g. Slurm's view of a queued job
    record.update(details)
    if args.json:
        output.print_json(record)
        return 0
    for key in FIELDS:
        value = record.get(key)
        if value in (None, [], ""):
            continue
        if key == "warnings":  # sentences: one line each
            for warning in value:
                print(f"{'warning:':<15}{warning}")
            continue
        if isinstance(value, list):
            value = " ".join(map(str, value))
        print(f"{key + ':':<15}{value}")
    for key, value in details.items():  # e.g. "slurm:  job 42 PENDING"
        label = key.removesuffix("_state") + ":"
        print(f"{label:<15}job {backend.handle(record)} {value}")
    if record.get("metrics"):
        print(f"{'metrics:':<15}{output.fmt_metrics(record['metrics'], 10)}")
    for line in (
        record.get("extra", {}).get("log_tail", [])[-5:] if record["state"] == "failed" else []
    ):
        print(f"{'log:':<15}{line}")
    return 0
