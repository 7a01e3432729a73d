"""``trn gc``: list, then (with ``--yes``) delete ended jobs and surplus checkpoints."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trn import text as output

if TYPE_CHECKING:
    from trn.registry.gc import GcPlan

THIN_KINDS = {"best", "last"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gc",
        help="delete old failed/cancelled/lost jobs and surplus checkpoints",
        description=(
            "List the jobs and checkpoints gc would delete and the bytes it would free; "
            "delete them only with --yes. Running jobs, jobs a kept job resumed from and "
            "checkpoints a kept job loads are never touched."
        ),
    )
    p.add_argument(
        "--older-than", metavar="AGE", help="only jobs ended this long ago: 30d, 12h, 2w"
    )
    p.add_argument(
        "--state",
        default="failed,cancelled,lost",
        help="comma-separated states to collect (default failed,cancelled,lost)",
    )
    p.add_argument("--sweep", metavar="SWEEP_ID", help="only the jobs of this sweep")
    p.add_argument(
        "--checkpoints",
        metavar="best,last",
        help="also thin the checkpoints of the jobs kept: keep the best and the newest",
    )
    p.add_argument("--yes", action="store_true", help="delete (default: only list)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.errors import UsageError
    from trn.ids import check_job_id
    from trn.registry import gc
    from trn.registry.store import Registry

    states = gc.parse_states(args.state)
    age = gc.parse_age(args.older_than) if args.older_than else None
    if args.sweep:
        from trn.paths import trn_home
        from trn.registry.sweeps import sweep_id_of

        args.sweep = sweep_id_of(trn_home(), check_job_id(args.sweep))
    if args.checkpoints is not None:
        kinds = {k.strip() for k in args.checkpoints.split(",") if k.strip()}
        if not kinds or kinds - THIN_KINDS:
            raise UsageError(f"--checkpoints {args.checkpoints!r}: give best,last (what to keep)")
    registry = Registry()
    if args.yes:
        gc.finish_trash(registry)  # what a gc killed half way left
    plan = gc.plan(registry, states, age, args.sweep, thin=args.checkpoints is not None)
    if args.json:
        output.print_json(
            {
                "jobs": [v.record.job_id for v in plan.jobs],
                "files": [str(p) for p in plan.files],
                "kept": [{"job_id": v.record.job_id, "why": why} for v, why in plan.kept],
                "bytes": plan.bytes,
                "deleted": args.yes,
            }
        )
    else:
        _show(plan, args.yes)
    if args.yes:
        for job in plan.jobs:
            gc.remove_job(registry, job.record)
        gc.remove_files(plan.files)
    return 0


def _show(plan: GcPlan, yes: bool) -> None:
    rows = [
        [
            v.record.job_id,
            v.state,
            (v.record.ended_at or "")[:19].replace("T", " "),
            output.fmt_bytes(plan.job_bytes[v.record.job_id]),
        ]
        for v in plan.jobs
    ]
    if rows:
        print(output.table(rows, ["JOB", "STATE", "ENDED (UTC)", "SIZE"]))
    for v, why in plan.kept:
        print(f"kept {v.record.job_id} ({v.state}): {why}")
    if plan.files:
        print(f"{len(plan.files)} checkpoint file(s) of kept jobs")
    verb = "freed" if yes else "would free"
    print(
        f"{len(plan.jobs)} job(s), {len(plan.files)} file(s): {verb} {output.fmt_bytes(plan.bytes)}"
        + ("" if yes else "; run again with --yes to delete")
    )
