"""Detached processes: a job (``trn run --detach``, ``trn.submit``) or a sweep (``trn run -m
--detach``) that outlives the process that asked.

One mechanism for both. The caller records what is to run (a job's ``plan.json``, a sweep's
``request.json``), then starts ``python -m trn.host detach-job|detach-sweep SPEC``
(:func:`trn.handoff.job_command`). That process reads the spec, forks once more and exits, so the
detached one is nobody's child (no zombie in a long-lived caller, no SIGHUP when the terminal
closes) and runs in its own session. The caller reads its pid, writes it where ``lost``
detection and ``trn cancel`` look (the job record, ``sweep.json``), then closes its stdin: that
EOF is the go, so it never races the caller's last write.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trn import proc
from trn.handoff import DETACH_SWEEP, SweepRequest
from trn.jobdir import SWEEP_LOG, SWEEP_REQUEST, JobDir
from trn.lifecycle.backends.local import start
from trn.lifecycle.plan import Plan

EARLY_STOPS = (signal.SIGINT, signal.SIGTERM)  # what a detached process catches before it runs


def take_over(plan: Plan, job_dir: Path, early: list[int]) -> dict[str, Any]:
    """Run a job another process submitted: this process becomes its supervisor.

    ``early``: the signals this process caught before now (a cancel right after submit), and
    goes on catching until the supervisor's handlers replace that; it stops the job with them."""
    from trn.lifecycle.supervisor import Supervisor
    from trn.text import event_line

    def echo(event: dict[str, Any]) -> None:
        print(event_line(event), flush=True)

    return Supervisor.attach(plan, job_dir, echo=echo).run(stops=early)


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
    pid, go = start(DETACH_SWEEP, sweep_dir / SWEEP_REQUEST, sweep_dir / SWEEP_LOG, home)
    if pid is None:
        go.close()
        raise JobFailed(f"sweep {sweep_id}: its detached process did not start; see {SWEEP_LOG}")
    # the sweep writes it again, the same
    info = record_process(sweep_dir, sweep_id, jobs, pid, attempt=attempt)
    go.close()
    return info


def run_sweep(request: SweepRequest, sweep_dir: Path, early: list[int]) -> int:
    """In the detached process: the sweep, exactly as in the foreground (which writes its
    ``summary.json``)."""
    from trn.lifecycle.sweep import print_summary
    from trn.lifecycle.sweep import run_sweep as run

    # a sweep stops as one in the foreground does: Ctrl-C (``trn cancel SWEEP``) cancels it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for signum in early:  # a cancel before now: as if it came now
        os.kill(os.getpid(), signum)
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
def detach_job(plan: Plan, plan_path: Path) -> int:
    """``python -m trn.host detach-job JOB_DIR/plan.json``: supervise the job, detached."""
    job_dir = plan_path.parent
    return _detach(JobDir(job_dir).supervisor_log, lambda early: _run_job(plan, job_dir, early))


def detach_sweep(request: SweepRequest, request_path: Path) -> int:
    """``python -m trn.host detach-sweep SWEEP_DIR/request.json``: run the sweep, detached."""
    sweep_dir = request_path.parent
    return _detach(sweep_dir / SWEEP_LOG, lambda early: run_sweep(request, sweep_dir, early))


def _run_job(plan: Plan, job_dir: Path, early: list[int]) -> int:
    take_over(plan, job_dir, early)
    return 0


def _detach(log: Path, body: Callable[[list[int]], int]) -> int:
    """Fork; the middle process reports the detached one's pid and leaves. The detached one
    waits for the go, sends its output to ``log`` and runs ``body(early)``, ``early`` being
    the stop signals caught from before the fork on (none is lost while it starts)."""
    early: list[int] = []
    with proc.catching(EARLY_STOPS, early.append):
        pid = os.fork()
        if pid:  # the middle process
            print(pid, flush=True)
            return 0
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the caller's pipe is for the pid only
        code = 1
        try:
            sys.stdin.buffer.read()  # EOF: the caller has written our pid down
            null = os.open(os.devnull, os.O_RDWR)
            out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            code = body(early)
        except KeyboardInterrupt:  # a sweep cancelled before it had started
            code = 130
        except BaseException:  # a bug: leave the traceback in the log; the record goes lost
            import traceback

            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
