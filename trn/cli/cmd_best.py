"""``trn best``: the completed job with the best objective and the path of its best checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output

DESCRIPTION = (
    "The completed job with the best objective (the config's objective.metric and objective.mode "
    "unless --metric/--mode say otherwise) and the best checkpoint of its resume chain, wherever "
    "in the chain it lives."
)


def add_parser(sub: Any) -> None:
    help_line = "the best completed job by its objective, and its best checkpoint"
    p = sub.add_parser("best", help=help_line, description=DESCRIPTION)
    p.add_argument("--sweep", metavar="SWEEP_ID", help="only the jobs of this sweep")
    p.add_argument("--metric", metavar="M", help="rank by this metric (e.g. val/loss)")
    p.add_argument("--mode", choices=("min", "max"), help="whether lower or higher is better")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.provenance.best import best_job, render
    from trn.registry.store import Registry
    from trn.registry.sweeps import sweep_id_of

    registry = Registry()
    sweep = sweep_id_of(registry.home, args.sweep) if args.sweep else None  # a prefix works
    best = best_job(registry, sweep, args.metric, args.mode)
    if args.json:
        output.print_json(best)
    else:
        print(render(best))
    return 0
