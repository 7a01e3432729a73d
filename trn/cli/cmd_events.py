"""``trn events [-f]``: the global event stream ($TRN_HOME/events.jsonl), filtered."""

from __future__ import annotations

import argparse
from typing import Any

from trn.cli.cmd_logs import _count
from trn.cli.progress import line_printer

EXAMPLES = """examples:
  trn events -n 20                         the last 20 events of every job
  trn events -f --event job_completed      follow: one line per finished job
  trn events --sweep 261128-1520-ab12 --event metrics --json | jq .metrics
  trn events --job 261128-1520 --event warning,job_failed
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "events",
        help="show (and follow) the event stream of all jobs, filtered",
        description="Print events from $TRN_HOME/events.jsonl as readable lines (heartbeats "
        "only when asked for with --event), or the raw JSON lines with --json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events (^C ends)")
    p.add_argument("--job", metavar="JOB", help="only this job (a unique id prefix works)")
    p.add_argument("--sweep", metavar="SWEEP", help="only the jobs of this sweep")
    p.add_argument("--event", metavar="TYPE", help="only these event types (comma-separated)")
    p.add_argument("--json", action="store_true", help="the raw event lines, one JSON per line")
    p.add_argument("-n", "--lines", type=_count, metavar="N", help="start with the last N matches")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.events import reader
    from trn.jobdir import HomeDir
    from trn.paths import readable_home

    keep = _filter(args)
    path = HomeDir(readable_home()).events
    lines, offset = reader.read_new(path, 0)
    lines = [ln for ln in lines if keep(ln)]
    if args.lines is not None:
        lines = lines[-args.lines :] if args.lines > 0 else []
    show = line_printer(args.json, heartbeats=bool(args.event), with_job=True)
    for line in lines:
        show(line)
    if args.follow:
        try:
            for line in reader.follow(path, offset=offset):
                if keep(line):
                    show(line)
        except KeyboardInterrupt:  # the usual way to stop following
            pass
    return 0


def _filter(args: argparse.Namespace) -> Any:
    """A predicate on raw lines; a cheap substring test before any JSON parsing."""
    from trn.errors import UsageError
    from trn.events.reader import parse
    from trn.events.schema import event_types
    from trn.ids import check_job_id

    job = sweep = None
    if args.job:
        from trn.registry.store import Registry

        job = Registry().find(args.job).job_id
    if args.sweep:
        from trn.paths import trn_home
        from trn.registry.sweeps import sweep_id_of

        sweep = sweep_id_of(trn_home(), check_job_id(args.sweep))
    types = set(filter(None, (args.event or "").split(",")))
    unknown = sorted(types - set(event_types()))
    if unknown:
        raise UsageError(
            f"unknown event type {', '.join(unknown)} in --event; "
            f"choose from: {', '.join(event_types())}"
        )

    def keep(line: str) -> bool:
        if job and f'"job_id":"{job}"' not in line:
            return False
        if sweep and f'"sweep_id":"{sweep}' not in line:  # a prefix of the sweep id works
            return False
        if types or job or sweep:
            event = parse(line)
            if event is None or (types and event.get("event") not in types):
                return False
        return True

    return keep
