"""``trn diff A B``: what differs between two jobs: config, code, packages, metrics.

Reads the two job dirs only (no torch, no lightning, no hydra).
"""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output
from trn.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="what differs between two jobs (config, code, packages, metrics)",
        description=(
            "Compare two jobs (ids or unique prefixes; any two, of any sweeps): the config values "
            "in override syntax, the code (commit, dirty, patch), the installed packages and the "
            "metrics. Only what differs, unless --all."
        ),
    )
    p.add_argument("jobs", nargs="*", metavar="JOB", help="two job ids or unique prefixes: A B")
    p.add_argument("--all", action="store_true", help="also what is the same")
    p.add_argument("--json", action="store_true", help="one JSON object, section by section")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.provenance.compare import diff, only_changed, render
    from trn.registry.record import view
    from trn.registry.store import Registry

    if len(args.jobs) != 2:
        got = f"{len(args.jobs)}" if args.jobs else "none"
        raise UsageError(f"give two jobs to compare: trn diff A B (got {got})")
    registry = Registry()
    a, b = (view(registry.find(job)) for job in args.jobs)
    if a.record.job_id == b.record.job_id:
        raise UsageError(
            f"{args.jobs[0]} and {args.jobs[1]} are the same job ({a.record.job_id}); "
            "give two different jobs"
        )
    result = diff(a, b)
    if not args.all:
        result = only_changed(result)
    if args.json:
        output.print_json(result)
    else:
        print(render(result, args.all))
    return 0
