"""``trn cancel JOB``: stop a job at its next step boundary, with a checkpoint, as ``cancelled``.

SIGINT goes to the job's supervisor (``record.pid``, on this host), which forwards it to the
runner; the runner saves at the step boundary and exits, and the supervisor writes the terminal
record. A job whose supervisor is gone (``lost``) has nobody to finalize it: its runner, if still
alive, gets the SIGINT directly, and the record is marked ``cancelled`` here; either way its
newest checkpoint stays resumable with ``trn resume JOB``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from trn.cli import output

TERMINAL = ("completed", "failed", "cancelled", "preempted")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cancel",
        help="stop a running job (it checkpoints at the next step and ends cancelled)",
        description="Send SIGINT to a job's supervisor on this host; wait until the job ends.",
    )
    p.add_argument("job", metavar="JOB", help="job id or a unique prefix of one")
    p.add_argument("--no-wait", action="store_true", help="return once the signal is sent")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    p.add_argument("--json", action="store_true", help="print the job's final record as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.errors import UsageError
    from trn.registry.record import pid_alive
    from trn.registry.store import Registry

    registry = Registry()
    record = registry.find(args.job)
    job, state = record["job_id"], record["state"]
    if state in TERMINAL:
        print(f"trn cancel: job {job} already ended ({state}); nothing to cancel", file=sys.stderr)
        return 1
    slurm = record.get("extra", {}).get("slurm_job_id")
    if slurm and (state == "submitted" or record.get("host") != socket.gethostname()):
        from trn.launcher.slurm import cancel as slurm_cancel  # issue 4: Slurm's job: scancel

        slurm_cancel(record)
        if args.no_wait:
            print(f"job {job}: cancel requested (Slurm job {slurm})")
            return 0
        return _wait(registry, Path(record["job_dir"]), args)
    if record.get("host") != socket.gethostname():
        raise UsageError(f"job {job} runs on host {record.get('host')}; run `trn cancel` there")
    if pid_alive(record.get("pid")):
        os.kill(int(record["pid"]), signal.SIGINT)
        if args.no_wait:
            print(f"job {job}: cancel requested")
            return 0
        return _wait(registry, Path(record["job_dir"]), args)
    return _cancel_lost(registry, record, args.json)


def _wait(registry: Any, job_dir: Path, args: argparse.Namespace) -> int:
    from trn.errors import TrnError

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        record = registry.read(job_dir)
        if record["state"] in TERMINAL:
            return _report(record, args.json)
        time.sleep(0.2)
    raise TrnError(f"job {record['job_id']} still {record['state']} after {args.timeout:.0f}s")


def _cancel_lost(registry: Any, record: dict[str, Any], as_json: bool) -> int:
    """A ``lost`` job: stop an orphaned runner if there is one, then end the record here."""
    from trn.registry.record import pid_alive, utc_now

    runner = record.get("runner_pid")
    if runner and pid_alive(runner):
        try:
            os.killpg(int(runner), signal.SIGINT)  # the runner leads its own process group
        except (ProcessLookupError, PermissionError):
            pass
    record.update(
        state="cancelled",
        ended_at=utc_now(),
        error="cancelled by `trn cancel` after its supervisor was lost",
    )
    registry.write(record)
    return _report(record, as_json)


def _report(record: dict[str, Any], as_json: bool) -> int:
    if as_json:
        output.print_json(record)
    else:
        hint = f" (resume: trn resume {record['job_id']})" if record.get("checkpoint") else ""
        print(f"job {record['job_id']} {record['state']}{hint}")
    return 0
