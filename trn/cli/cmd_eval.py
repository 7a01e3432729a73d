"""``trn eval JOB|CHECKPOINT [OVERRIDES]``: test (or validate) a checkpoint, as a job of its own."""

from __future__ import annotations

import argparse
from typing import Any

from trn.config import project

EXAMPLES = """examples:
  trn eval 261128-1520                          the job's best checkpoint, trainer.test
  trn eval 261128-1520 --stage validate         trainer.validate instead
  trn eval runs/.../checkpoints/e003-s0000120-epoch.meta.json
  trn eval 261128-1520 data.path=datasets/heldout trainer.limit_test_batches=10
  trn eval 261128-1520 --dry-run --json         print the plan, start nothing
  trn list --kind eval                          the eval jobs and their test/* metrics

An eval job runs the checkpoint's own config (model, data) with the overrides on top; model
overrides must build a model the checkpoint's weights fit. Its metrics (test/* from the
module's test_step) are in its events, its record, `trn list` and `trn status`.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="test or validate a checkpoint (a job's best, or a .meta.json) as an eval job",
        description="Evaluate a checkpoint with Lightning's trainer.test (or trainer.validate) "
        "on the job's model and data config, as a job of its own (kind: eval).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target", metavar="JOB|CHECKPOINT", help="a job id (or unique prefix) or a .meta.json"
    )
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides key=value")
    p.add_argument(
        "--stage",
        choices=["test", "validate"],
        default="test",
        help="trainer.test (default, the module's test_step) or trainer.validate",
    )
    p.add_argument("--json", action="store_true", help="print the eval job's record as JSON")
    p.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    p.add_argument("--detach", action="store_true", help="run in the background, print the id")
    project.add_arguments(p)  # trn.config.project: whose code and trust the eval job uses
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.cli.cmd_run import detached, execute, print_plan
    from trn.lifecycle.evaluate import plan_eval
    from trn.lifecycle.plan import describe

    plan = plan_eval(args.target, args.overrides, stage=args.stage)  # safe: plans a test stage
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    if args.detach:
        return detached(plan, args.json)
    return execute(plan, as_json=args.json)
