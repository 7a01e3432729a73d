"""``trn logs JOB [-f]``: a job's events as readable lines, or its runner log (no torch import)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trn.cli.progress import line_printer, watch_printer

if TYPE_CHECKING:
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

EXAMPLES = """examples:
  trn logs 261128-1520              the job's events: time, event, key numbers
  trn logs 261128-1520 -f           ... and follow new ones until the job ends
  trn logs 261128-1520 --json | jq 'select(.event=="metrics") | .metrics'
  trn logs 261128-1520 --log -n 50  the last 50 lines of the runner's own output
  trn logs 261128-1520 --rank 1     rank 1's output (a multi-task Slurm job: runner.rank1.log)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "logs",
        help="show a job's events (or its runner log), optionally following them",
        description="Print a job's events as readable lines (heartbeats left out), or the raw "
        "JSON lines with --json; --log shows the runner's stdout/stderr instead.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("job", metavar="JOB", help="job id or a unique prefix of one")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("--json", action="store_true", help="the raw event lines, one JSON per line")
    p.add_argument("--log", action="store_true", help="the runner's log (runner.log) instead")
    p.add_argument(
        "--rank",
        type=_count,
        metavar="N",
        help="rank N's runner log instead (a multi-task Slurm job's ranks write their own)",
    )
    p.add_argument("-n", "--lines", type=_count, metavar="N", help="only the last N lines")
    p.set_defaults(func=run)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from trn.events import reader
    from trn.registry.store import Registry

    registry = Registry()
    record = registry.find(args.job)
    from trn.jobdir import JobDir
    from trn.lifecycle.backends import backend_of

    job_dir = Path(record.job_dir)
    args.log = args.log or args.rank is not None
    path = backend_of(record).logs(record)[0] if args.log else JobDir(job_dir).events
    if args.rank:
        path = _rank_log(record, args.rank)
    offset = reader.tail_offset(path, args.lines) if args.lines is not None else 0
    done = _job_ended(registry, job_dir) if args.follow else (lambda: True)
    live = watch_printer(record) if args.follow and not (args.json or args.log) else None
    show = live or line_printer(raw=args.json or args.log)  # live: the view `trn run` draws
    try:
        for line in reader.follow(path, offset=offset, done=done):
            show(line)
    except KeyboardInterrupt:  # the usual way to stop following
        pass
    finally:
        getattr(live, "close", lambda: None)()
    return 0


def _rank_log(record: JobRecord, rank: int) -> Path:
    """Rank ``rank``'s log; a usage error naming the ranks that have one."""
    from trn.errors import UsageError
    from trn.jobdir import JobDir

    job_dir = JobDir(record.job_dir)
    path = job_dir.rank_log(rank)
    if not path.exists():
        ranks = sorted(
            int(p.name[len("runner.rank") : -4]) for p in job_dir.path.glob("runner.rank*.log")
        )
        have = ", ".join(map(str, [0, *ranks]))
        raise UsageError(
            f"job {record.job_id} has no log of rank {rank} (ranks with a log: {have}); "
            "ranks > 0 write their own only in a multi-task Slurm job, else they share "
            "rank 0's: `trn logs JOB --log`"
        )
    return path


def _job_ended(registry: Registry, job_dir: Path) -> Callable[[], bool]:
    """True once the job has ended (or is lost) and its terminal event is written: then the
    file is complete."""
    from trn.lifecycle.end import settled

    def done() -> bool:
        try:
            return settled(registry.load(job_dir))
        except (OSError, ValueError):
            return True

    return done
