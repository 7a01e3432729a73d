"""``trn list``: recent jobs, newest first (reads the index only: no torch, no hydra)."""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output
from trn.errors import UsageError
from trn.registry.record import STATES, JobView


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list recent jobs, newest first",
        description="List jobs from the registry under $TRN_HOME.",
    )
    p.add_argument("--state", choices=STATES, help="only jobs in this state")
    p.add_argument("--sweep", metavar="SWEEP_ID", help="only the jobs of this sweep")
    p.add_argument(
        "--kind", choices=["train", "eval"], help="only training jobs, or only eval jobs (trn eval)"
    )
    p.add_argument("--limit", type=_positive, default=20, help="at most N jobs (default 20)")
    p.add_argument("--all", action="store_true", help="no limit")
    p.add_argument("--json", action="store_true", help="a JSON array of job records")
    p.add_argument("--size", action="store_true", help="each job's disk use (walks its dir)")
    p.add_argument(
        "--sort",
        metavar="METRIC",
        help="by this metric, best first when the jobs' objective names it (objective.mode), "
        "else highest first; jobs without it left out",
    )
    p.add_argument("--reverse", action="store_true", help="with --sort: the other way round")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only jobs given this override (optimizer.lr=0.001), or state=/sweep=; repeatable",
    )
    p.add_argument(
        "--columns",
        metavar="A,B",
        help="show these metrics and config keys (e.g. val/acc,optimizer.lr) instead of METRICS",
    )
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
    from trn.registry.index import Search
    from trn.registry.query import parse_where, select
    from trn.registry.store import Registry

    fields, where = parse_where(args.where)
    state = _one("state", args.state, fields.get("state"))
    sweep = _one("sweep", args.sweep, fields.get("sweep_id"))
    columns = _columns(args.columns)
    if sweep:
        from trn.paths import trn_home
        from trn.registry.sweeps import sweep_id_of

        sweep = sweep_id_of(trn_home(), check_job_id(sweep))  # a unique prefix works
    limit = None if args.all else args.limit
    if args.sort or where:
        from trn.provenance.best import mode_of

        registry = Registry()
        descending = (mode_of(registry, args.sort, sweep) or "max") == "max" if args.sort else True
        query = Search(None, sweep, where, args.sort, descending != args.reverse, limit, args.kind)
        jobs = select(registry, state, query)
    else:
        from trn.registry.record import view

        jobs = [view(r) for r in Registry().list(state, sweep, limit, args.kind)]
    sizes = _sizes(jobs) if args.size else {}
    if args.json:
        output.print_json(
            [
                {**j.to_dict(), **({"bytes": sizes[j.record.job_id]} if args.size else {})}
                for j in jobs
            ]
        )
        return 0
    if not jobs:
        filtered = state or sweep or where or args.sort or args.kind
        if filtered:
            print("no jobs match")
            return 0
        from trn.paths import home_and_source

        home, chosen = home_and_source()  # a home of another project is empty here
        print(f"no jobs yet in {home} ({chosen}): start one with `trn run`")
        return 0
    if columns or args.sort:
        from trn.cli.list_columns import render

        print(render(jobs, columns or [args.sort]))
        return 0
    rows = [
        [
            j.record.job_id,
            j.state,
            j.record.created_at[:19].replace("T", " "),
            ",".join(j.record.devices),
            output.fmt_metrics(j.record.metrics, 2),
            j.record.name or _label(j),
        ]
        + ([output.fmt_bytes(sizes[j.record.job_id])] if args.size else [])
        for j in jobs
    ]
    header = ["JOB", "STATE", "CREATED (UTC)", "DEVICES", "METRICS", "NAME"]
    print(output.table(rows, header + (["SIZE"] if args.size else [])))
    return 0


def _label(job: JobView) -> str:
    """What a job without a name is: its overrides; an eval job says what it evaluated."""
    given = " ".join(job.record.overrides)
    if job.record.kind == "eval":
        what = job.record.evaluates or {}
        given = f"eval {what.get('job_id') or '?'} ({what.get('stage', 'test')}) {given}"
    return given[:40]


def _sizes(jobs: list[JobView]) -> dict[str, int]:
    """Each job's disk use (``--size``: walks its dir)."""
    from pathlib import Path

    from trn.fsutil import dir_bytes

    return {j.record.job_id: dir_bytes(Path(j.record.job_dir)) for j in jobs}


def _one(name: str, flag: str | None, where: str | None) -> str | None:
    if flag and where and flag != where:
        raise UsageError(f"--{name} {flag} and --where {name}={where} disagree; give one")
    return flag or where


def _columns(text: str | None) -> list[str]:
    if text is None:
        return []
    columns = [c.strip() for c in text.split(",")]
    if not all(columns):
        raise UsageError(
            f"--columns {text!r}: expected names separated by commas, e.g. val/acc,optimizer.lr"
        )
    return columns
