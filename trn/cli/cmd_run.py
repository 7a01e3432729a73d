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
    from trn.cli.progress import make_echo
    from trn.errors import UsageError
    from trn.supervisor import Supervisor

    # events.stdout=true: stdout carries the event lines only, people read stderr (issue 7)
    events_stdout = bool(plan.config.get("events", {}).get("stdout"))
    if events_stdout and as_json:
        raise UsageError("--json and events.stdout=true both write stdout; drop one of them")
    stream = sys.stderr if as_json or events_stdout else sys.stdout
    echo = make_echo(stream, sys.stdout if events_stdout else None)  # a bar on a terminal

    sup = Supervisor(plan, echo=echo)
    try:
        record = sup.run(sup.submit())
    finally:
        echo.close()
    if as_json:
        output.print_json(record)
    else:
        print(f"job {record['job_id']} {record['state']}: {record['job_dir']}", file=stream)
    return 0 if record["state"] == "completed" else 1
