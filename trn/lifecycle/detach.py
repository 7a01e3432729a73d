"""Detached processes: a job (``trn run --detach``, ``trn.submit``) or a sweep (``trn run -m
--detach``) that outlives the process that asked.

One mechanism for both. The caller records what is to run (a job's ``plan.json``, a sweep's
``request.json``), then starts ``python -m trn.lifecycle.detach job|sweep DIR``. That process forks
once more and exits, so the detached one is nobody's child (no zombie in a long-lived caller, no
SIGHUP when the terminal closes) and runs in its own session. The caller reads its pid, writes
it where ``lost`` detection and ``trn cancel`` look (the job record, ``sweep.json``), then closes
its stdin: that EOF is the go, so it never races the caller's last write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trn import proc
from trn.handoff import BadFile, SweepRequest
from trn.jobdir import SWEEP_LOG, SWEEP_REQUEST, JobDir

USAGE = "usage: python -m trn.lifecycle.detach JOB_DIR | sweep SWEEP_DIR"


def start(kind: str, directory: Path, log: Path, home: Path) -> tuple[int | None, Any]:
    """Start ``kind`` (job, sweep) of ``directory`` detached; its pid (None: it died before it
    forked) and the pipe whose close is its go."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trn.lifecycle.detach", kind, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out,
            start_new_session=True,
            env={**os.environ, "TRN_HOME": str(home)},  # --log-dir / trn.submit(log_dir=)
        )
    assert proc.stdin is not None and proc.stdout is not None
    line = proc.stdout.readline().strip()
    proc.wait()
    return (int(line) if line.isdigit() else None), proc.stdin


# -- a job ----------------------------------------------------------------------------------
def submit(plan: Any) -> dict[str, Any]:
    """Record the job, start its detached supervisor, return the record (``submitted``)."""
    from trn import fsutil
    from trn.errors import JobFailed
    from trn.lifecycle.supervisor import Supervisor

    sup = Supervisor(plan)
    record = sup.submit()
    if sup.stop_signal is not None:  # Ctrl-C while it was being created: it never starts
        sup.run(record)
        raise KeyboardInterrupt
    sup.events.close()  # the detached supervisor opens its own writer
    job_dir = JobDir(record.job_dir)
    fsutil.atomic_write_bytes(job_dir.plan, sup.plan.to_json().encode())  # its config filled in
    pid, go = start("job", job_dir.path, job_dir.supervisor_log, plan.home)
    if pid is None:  # it died before forking: say so in the record, not by a hang
        go.close()
        sup.open_events(record)
        sup.finalize(record, 1, 0.0)
        raise JobFailed(
            f"job {record.job_id}: the detached supervisor did not start; see {JobDir.SUPERVISOR_LOG}"
        )
    record.pid, record.pid_start = pid, proc.start_time(pid)
    sup.registry.write(record)
    go.close()
    return record.to_dict()


def load_plan(job_dir: Path) -> Any:
    """The :class:`~trn.lifecycle.plan.Plan` that :func:`submit` left in ``job_dir``."""
    from trn.lifecycle.plan import Plan

    return Plan.from_json(JobDir(job_dir).plan.read_text())


def take_over(job_dir: Path, early: list[int] | None = None) -> dict[str, Any]:
    """Run a job another process submitted: this process becomes its supervisor.

    ``early``: signals received before now (a cancel right after submit); the supervisor
    forwards them to the runner as soon as it exists."""
    from trn.lifecycle.supervisor import Supervisor
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry
    from trn.text import event_line

    def echo(event: dict[str, Any]) -> None:
        print(event_line(event), flush=True)

    sup = Supervisor(load_plan(job_dir), echo=echo)
    with sup.catching_stops():  # Supervisor.run catches the same; this covers the time before
        for signum in early or []:
            sup.request_stop(signum)
        record = JobRecord.from_dict(Registry.read(job_dir))
        # already so, unless the caller died before writing it
        record.pid, record.pid_start = os.getpid(), proc.start_time(os.getpid())
        sup.open_events(record)
        sup.registry.write(record)
        return sup.run(record)


# -- a sweep --------------------------------------------------------------------------------
def submit_sweep(
    overrides: list[str],
    home: Path,
    *,
    fail_fast: bool = False,
    resume: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the sweep (bad input: exit 2, nothing on disk), make its dir, start it detached;
    ``{sweep_id, sweep_dir, jobs, pid}``. Its output goes to ``sweep.log``, its summary to
    ``summary.json``, its pid to ``sweep.json`` (``trn cancel SWEEP`` signals it, like Ctrl-C).
    ``resume``: ``(sweep id, ResumeOptions)``: the rest of that sweep, every refusal first."""
    from trn import fsutil
    from trn.errors import JobFailed
    from trn.registry.sweeps import new_sweep_dir, record_process

    if resume is not None:
        from trn.lifecycle.sweep_resume import plan_sweep_resume

        resumed = plan_sweep_resume(home, resume[0], resume[1])
        sweep_id, sweep_dir = resumed.sweep_id, resumed.sweep_dir
        overrides, attempt = resumed.overrides, resumed.attempt.number
        jobs = len(resumed.attempt.points) if resumed.attempt.checked.jobs is not None else None
        options: dict[str, bool] | None = asdict(resume[1])
    else:
        from trn.lifecycle import expand

        checked = expand.check(overrides, home, None)  # UsageError: nothing has started
        sweep_id, sweep_dir = new_sweep_dir(home)
        jobs = len(checked.jobs) if checked.jobs is not None else None
        attempt, options = 1, None
    request = SweepRequest(sweep_id, list(overrides), str(home), fail_fast, options)
    fsutil.atomic_write_bytes(sweep_dir / SWEEP_REQUEST, request.to_json().encode())
    pid, go = start("sweep", sweep_dir, sweep_dir / SWEEP_LOG, home)
    if pid is None:
        go.close()
        raise JobFailed(f"sweep {sweep_id}: its detached process did not start; see {SWEEP_LOG}")
    # the sweep writes it again, the same
    info = record_process(sweep_dir, sweep_id, jobs, pid, attempt=attempt)
    go.close()
    return info


def run_sweep(sweep_dir: Path, early: list[int]) -> int:
    """In the detached process: the sweep, exactly as in the foreground (which writes its
    ``summary.json``)."""
    from trn.lifecycle.sweep import print_summary
    from trn.lifecycle.sweep import run_sweep as run

    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C semantics: cancel
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for signum in early:  # a cancel before now: as if it came now
        os.kill(os.getpid(), signum)
    where = sweep_dir / SWEEP_REQUEST
    try:
        request = SweepRequest.from_json(where.read_bytes(), str(where))
    except (OSError, BadFile) as err:  # one line in its log; the sweep shows lost
        print(f"trn: {err}", file=sys.stderr)
        return 2
    home, sweep = Path(request.home), (request.sweep_id, sweep_dir)
    if request.resume is not None:
        from trn.lifecycle.sweep_resume import ResumeOptions, plan_sweep_resume

        resumed = plan_sweep_resume(home, request.sweep_id, ResumeOptions(**request.resume))
        result = run(
            resumed.overrides,
            home,
            config_dir=resumed.config_dir,
            sweep=sweep,
            fail_fast=request.fail_fast,
            attempt=resumed.attempt,
        )
    else:
        result = run(request.overrides, home, sweep=sweep, fail_fast=request.fail_fast)
    print_summary(result.summary, as_json=False)
    return result.exit_code


# -- the detached process -------------------------------------------------------------------
def _daemon(kind: str, directory: Path) -> int:
    """In the grandchild: wait for the go, drop the pipes, run."""
    early: list[int] = []  # a cancel before the job or sweep installs its handlers
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda signum, frame: early.append(signum))
    sys.stdin.buffer.read()  # EOF: the caller has written our pid down
    log = JobDir(directory).supervisor_log if kind == "job" else directory / SWEEP_LOG
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    if kind == "job":
        take_over(directory, early)
        return 0
    return run_sweep(directory, early)


def main(argv: list[str]) -> int:
    if len(argv) == 1:  # python -m trn.lifecycle.detach JOB_DIR
        argv = ["job", *argv]
    if len(argv) != 2 or argv[0] not in ("job", "sweep"):
        print(USAGE, file=sys.stderr)
        return 2
    kind, directory = argv[0], Path(argv[1])
    pid = os.fork()
    if pid:  # the middle process: report the detached one's pid and leave
        print(pid, flush=True)
        return 0
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the caller's pipe is for the pid only
    code = 1
    try:
        code = _daemon(kind, directory)
    except KeyboardInterrupt:  # a sweep cancelled before it had started
        code = 130
    except BaseException:  # a bug: leave the traceback in the log; the record goes lost
        import traceback

        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
