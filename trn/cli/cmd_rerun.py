"""``trn rerun JOB [OVERRIDES]``: run a job's resolved config again, with overrides on top."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trn.config import project

EXAMPLES = """examples:
  trn rerun 261128-1520                          exactly that config again
  trn rerun 261128-1520 optimizer.lr=0.003       the same, one value changed
  trn rerun 261128-1520 --strict                 refuse if the code is not what it ran

The new job's record says rerun_of. A rerun changes values only: picking another config group
(optimizer=sgd) is a fresh `trn run`.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "rerun",
        help="a new job from a job's resolved config, with overrides on top",
        description="Start a new job from the config another job ran (its config.yaml), not "
        "from today's conf/; warn when the project's code changed since.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("job", metavar="JOB", help="the job id (or a unique prefix)")
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="key=value on top")
    p.add_argument("--strict", action="store_true", help="refuse when the code differs")
    p.add_argument("--json", action="store_true", help="print the new job's record as JSON")
    p.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    p.add_argument("--detach", action="store_true", help="run in the background, print the id")
    project.add_arguments(p)  # whose code and trust the rerun uses (default: the job's project)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.cli.cmd_run import detached, execute, print_plan
    from trn.ids import check_job_id
    from trn.lifecycle.plan import describe
    from trn.lifecycle.rerun import plan_rerun

    check_job_id(args.job)
    plan, warning = plan_rerun(args.job, args.overrides, strict=args.strict)
    if warning:
        print(f"trn rerun: warning: {warning}", file=sys.stderr)
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    if args.detach:
        return detached(plan, args.json)
    return execute(plan, as_json=args.json)
