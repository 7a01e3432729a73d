"""``trn resume JOB | --checkpoint META [OVERRIDES]``: a new job continuing a checkpoint exactly."""

from __future__ import annotations

import argparse
from typing import Any

from trn.config import project

EXAMPLES = """examples:
  trn resume 261128-1520                          the job's newest valid checkpoint
  trn resume --checkpoint runs/.../checkpoints/e003-s0000120-step.meta.json
  trn resume 261128-1520 trainer.max_epochs=40    train on for more epochs
  trn resume 261128-1520 --dry-run --json         print the plan, start nothing

The resumed job is a new job (parent_job_id, attempt + 1) with the checkpoint's config; overrides
that change the model, the dataset or the optimizer type are refused (use weights=META for that).
Same as: trn run resume=JOB|META [OVERRIDES]
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "resume",
        help="continue a job from its newest valid checkpoint (or --checkpoint META)",
        description="Start a new job that continues a checkpoint bit for bit: model, optimizer, "
        "scheduler, loop position, data order and RNG state.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "args",
        nargs="*",
        metavar="JOB|OVERRIDE",
        help="the job id (or a unique prefix), then Hydra overrides key=value",
    )
    p.add_argument("--checkpoint", metavar="META", help="a checkpoint's .meta.json instead of JOB")
    p.add_argument("--json", action="store_true", help="print the new job's record as JSON")
    p.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    p.add_argument("--detach", action="store_true", help="run in the background, print the id")
    project.add_arguments(p)  # trn.config.project: whose code and trust the resumed job uses
    p.set_defaults(func=run)


def split_target(args: argparse.Namespace) -> tuple[str, list[str]]:
    from trn.errors import UsageError

    rest = list(args.args)
    job = rest.pop(0) if rest and "=" not in rest[0] else None
    if bool(job) == bool(args.checkpoint):
        raise UsageError(
            "give the job to resume (trn resume JOB) or --checkpoint META.meta.json, not both"
            if job
            else "nothing to resume: give a job id (see `trn list`) or --checkpoint META.meta.json"
        )
    return str(job or args.checkpoint), rest


def run(args: argparse.Namespace) -> int:
    from trn.cli.cmd_run import detached, execute, print_plan
    from trn.lifecycle.plan import describe
    from trn.lifecycle.resume import plan_resume

    target, overrides = split_target(args)
    plan = plan_resume(target, overrides)
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    if args.detach:
        return detached(plan, args.json)
    return execute(plan, as_json=args.json)
