"""``trn list``: recent jobs, newest first (reads the index only: no torch, no hydra)."""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output
from trn.registry.record import STATES


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list recent jobs, newest first",
        description="List jobs from the registry under $TRN_HOME.",
    )
    p.add_argument("--state", choices=STATES, help="only jobs in this state")
    p.add_argument("--sweep", metavar="SWEEP_ID", help="only the jobs of this sweep")
    p.add_argument("--limit", type=_positive, default=20, help="at most N jobs (default 20)")
    p.add_argument("--all", action="store_true", help="no limit")
    p.add_argument("--json", action="store_true", help="a JSON array of job records")
    p.add_argument("--size", action="store_true", help="each job's disk use (walks its dir)")
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from trn.ids import check_job_id
    from trn.registry.store import Registry

    if args.sweep:
        check_job_id(args.sweep)
    records = Registry().list(args.state, args.sweep, None if args.all else args.limit)
    if args.size:
        from pathlib import Path

        from trn.fsutil import dir_bytes

        for r in records:
            r["bytes"] = dir_bytes(Path(r["job_dir"]))
    if args.json:
        output.print_json(records)
        return 0
    if not records:
        print("no jobs yet: start one with `trn run`")
        return 0
    rows = [
        [
            r["job_id"],
            r["state"],
            r["created_at"][:19].replace("T", " "),
            ",".join(r.get("devices") or []),
            output.fmt_metrics(r.get("metrics") or {}, 2),
            r.get("name") or " ".join(r.get("overrides") or [])[:40],
        ]
        + ([output.fmt_bytes(r["bytes"])] if args.size else [])
        for r in records
    ]
    header = ["JOB", "STATE", "CREATED (UTC)", "DEVICES", "METRICS", "NAME"]
    print(output.table(rows, header + (["SIZE"] if args.size else [])))
    return 0
