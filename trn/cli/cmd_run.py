"""``trn run [OVERRIDES]``: compose, validate, plan, then run one job (or print the plan)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trn.cli import output

EXAMPLES = """examples:
  trn run                                        the default model on the bundled dataset
  trn run profile=dev                            a seconds-long smoke run
  trn run optimizer=sgd optimizer.lr=0.05 scheduler=cosine trainer.max_epochs=30
  trn run devices=cpu devices.processes=2        DDP over gloo with 2 CPU processes
  trn run --dry-run model.hidden=[256]           print the plan, start nothing
  trn run --json profile=dev | jq .state         the final job record as JSON
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a training job (Hydra overrides: key=value, group=option)",
        description="Compose the config from conf/ with Hydra overrides, validate it, and run "
        "the job; prints its events and ends with the job's state.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra override, e.g. model=mlp optimizer.lr=1e-3 +new.key=1",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the final job record as one JSON object on stdout",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (resolved config, devices, runner command); start nothing",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.plan import describe, make_plan

    plan = make_plan(args.overrides)
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    return execute(plan, as_json=args.json)


def print_plan(plan: dict[str, Any], as_json: bool) -> int:
    if as_json:
        output.print_json(plan)
        return 0
    import yaml

    sys.stdout.write(yaml.safe_dump(plan, sort_keys=False))
    return 0


def execute(plan: Any, as_json: bool) -> int:
    from trn.supervisor import Supervisor

    stream = sys.stderr if as_json else sys.stdout

    def echo(event: dict[str, Any]) -> None:
        stream.write(output.event_line(event) + "\n")
        stream.flush()

    sup = Supervisor(plan, echo=echo)
    record = sup.run(sup.submit())
    if as_json:
        output.print_json(record)
    else:
        print(f"job {record['job_id']} {record['state']}: {record['job_dir']}")
    return 0 if record["state"] == "completed" else 1
