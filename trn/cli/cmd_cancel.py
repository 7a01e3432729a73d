"""``trn cancel JOB|SWEEP``: stop a job at its next step boundary, with a checkpoint, as
``cancelled``; or stop a whole sweep, as Ctrl-C in its terminal would. How: :mod:`trn.lifecycle.cancel`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trn import text as output

if TYPE_CHECKING:
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cancel",
        help="stop a running job or sweep (jobs checkpoint at the next step, end cancelled)",
        description="Send SIGINT to a job's supervisor, or to a sweep's process, on this host; "
        "wait until it ends.",
    )
    p.add_argument("target", metavar="JOB|SWEEP", help="job id (or a unique prefix), or sweep id")
    p.add_argument("--no-wait", action="store_true", help="return once the signal is sent")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    p.add_argument(
        "--json", action="store_true", help="print the final record (or summary) as JSON"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.errors import NotFound
    from trn.registry.store import Registry
    from trn.registry.sweeps import job_or_sweep

    registry = Registry()
    sweep_dir = job_or_sweep(registry.home, args.target)  # checks the id: bad text is exit 2
    if sweep_dir is not None:
        return _cancel_sweep(registry.home, sweep_dir, args)
    try:
        record = registry.find(args.target)
    except NotFound:
        raise NotFound(
            f"no job or sweep {args.target!r} in {registry.home} (see `trn list`)"
        ) from None
    return _cancel_job(registry, record, args)


def _cancel_job(registry: Registry, record: JobRecord, args: argparse.Namespace) -> int:
    from trn.lifecycle.backends import backend_of
    from trn.lifecycle.cancel import request_job, wait_job
    from trn.registry.record import TERMINAL, view

    job, state = record.job_id, record.state
    if state in TERMINAL:
        print(f"trn cancel: job {job} already ended ({state}); nothing to cancel", file=sys.stderr)
        return 1
    if request_job(registry, record) and args.no_wait:
        backend = backend_of(record)
        handle = backend.handle(record)
        named = f" ({backend.name.capitalize()} job {handle})" if handle else ""
        print(f"job {job}: cancel requested{named}")
        return 0
    final = view(wait_job(registry, Path(record.job_dir), args.timeout))  # ended: read at once
    if args.json:
        output.print_json(final.to_dict())
    else:
        hint = f" (resume: trn resume {job})" if final.record.checkpoint else ""
        print(f"job {job} {final.state}{hint}")
    return 0


def _cancel_sweep(home: Path, sweep_dir: Path, args: argparse.Namespace) -> int:
    from trn.lifecycle.cancel import request_sweep, wait_sweep
    from trn.registry.sweeps import sweep_end

    sweep = sweep_dir.name
    end = sweep_end(sweep_dir)
    if end is not None:
        print(
            f"trn cancel: sweep {sweep} already ended ({end.get('state')}); nothing to cancel",
            file=sys.stderr,
        )
        return 1
    if request_sweep(home, sweep_dir) and args.no_wait:
        print(f"sweep {sweep}: cancel requested")
        return 0
    end = wait_sweep(home, sweep_dir, args.timeout)
    if args.json:
        output.print_json(end)
    else:
        counts = ", ".join(f"{n} {state}" for state, n in (end.get("counts") or {}).items())
        print(f"sweep {sweep} {end.get('state')} ({counts or 'no jobs'})")
    return 0
