"""Detached jobs (``trn run --detach``, ``trn.submit``): the job outlives the process that asked.

The caller validates and plans, records the job (``Supervisor.submit``), then starts
``python -m trn.detach JOB_DIR``. That process forks once more and exits, so the supervisor is
nobody's child (no zombie in a long-lived caller, no SIGHUP when the terminal closes) and runs in
its own session. The caller reads the supervisor's pid, writes it into the record (so ``lost``
detection and ``trn cancel`` see the right process), then closes the supervisor's stdin: that EOF
is the supervisor's go, so it never races the caller's last write of the record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

PLAN = "plan.json"  # the plan, for the detached supervisor
LOG = "supervisor.log"  # its stdout and stderr


def submit(plan: Any) -> dict[str, Any]:
    """Record the job, start its detached supervisor, return the record (``submitted``)."""
    from trn import fsutil
    from trn.supervisor import Supervisor

    sup = Supervisor(plan)
    record = sup.submit()
    sup.events.close()  # the detached supervisor opens its own writer
    job_dir = Path(record.job_dir)
    plan_json = json.dumps(asdict(plan), indent=1, default=str)
    fsutil.atomic_write_bytes(job_dir / PLAN, plan_json.encode())
    with open(job_dir / LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trn.detach", str(job_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "TRN_HOME": str(plan.home)},  # --log-dir / trn.submit(log_dir=)
        )
    assert proc.stdin is not None and proc.stdout is not None
    line = proc.stdout.readline().strip()
    proc.wait()
    if not line.isdigit():  # it died before forking: say so in the record, not by a hang
        proc.stdin.close()
        sup.open_events(record)
        sup.finalize(record, proc.returncode or 1, 0.0)
        from trn.errors import JobFailed

        raise JobFailed(f"job {record.job_id}: the detached supervisor did not start; see {LOG}")
    record.pid = int(line)
    sup.registry.write(record)
    proc.stdin.close()  # go
    return record.to_dict()


def load_plan(job_dir: Path) -> Any:
    """The :class:`~trn.plan.Plan` that :func:`submit` left in ``job_dir``."""
    import trn.plan

    data = json.loads((Path(job_dir) / PLAN).read_text())
    alloc_cls = trn.plan.Allocation
    names = {f.name for f in fields(alloc_cls)}
    allocation = alloc_cls(**{k: v for k, v in data.pop("allocation").items() if k in names})
    known = {f.name for f in fields(trn.plan.Plan)}
    data = {k: v for k, v in data.items() if k in known}
    return trn.plan.Plan(**{**data, "allocation": allocation, "home": Path(data["home"])})


def take_over(job_dir: Path, early: list[int] | None = None) -> dict[str, Any]:
    """Run a job another process submitted: this process becomes its supervisor.

    ``early``: signals received before now (a cancel right after submit); the supervisor
    forwards them to the runner as soon as it exists."""
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry
    from trn.supervisor import Supervisor
    from trn.text import event_line

    def echo(event: dict[str, Any]) -> None:
        print(event_line(event), flush=True)

    sup = Supervisor(load_plan(job_dir), echo=echo)
    for s in (signal.SIGINT, signal.SIGTERM):  # Supervisor.run installs the same, later
        signal.signal(s, sup._on_signal)
    for signum in early or []:
        sup._on_signal(signum, None)
    record = JobRecord.from_dict(Registry.read(job_dir))
    record.pid = os.getpid()  # already so, unless the caller died before writing it
    sup.open_events(record)
    sup.registry.write(record)
    return sup.run(record)


def _daemon(job_dir: Path) -> None:
    """In the grandchild: wait for the go, drop the pipes, take the job over."""
    early: list[int] = []  # a cancel before Supervisor.run installs its handlers
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda signum, frame: early.append(signum))
    sys.stdin.buffer.read()  # EOF: the caller has written our pid into the record
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(Path(job_dir) / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    take_over(job_dir, early)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m trn.detach JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[0])
    pid = os.fork()
    if pid:  # the middle process: report the supervisor's pid and leave
        print(pid, flush=True)
        return 0
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the caller's pipe is for the pid only
    try:
        _daemon(job_dir)
    except BaseException:  # a bug: leave the traceback in supervisor.log, the record goes lost
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
