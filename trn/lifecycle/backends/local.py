"""The local backend: a supervisor process on this host owns the job until it ends.

A detached one (``trn run --detach``, ``trn.submit``, a detached sweep's driver) is started by
:func:`start`: ``python -m trn.host detach-job|detach-sweep SPEC`` (:mod:`trn.lifecycle.detach`,
the process's side), which forks once more and exits, so the supervisor is nobody's child.
The caller reads its pid, writes it where ``lost`` detection and ``trn cancel`` look, then
closes its stdin: that EOF is the go, so it never races the caller's last write."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trn import proc
from trn.errors import UsageError
from trn.handoff import DETACH_JOB, job_command
from trn.jobdir import JobDir
from trn.registry.record import TERMINAL, JobRecord, JobView, view
from trn.registry.store import Registry

if TYPE_CHECKING:
    from trn.lifecycle.plan import Plan


class Local:
    name = "local"

    def cancel(self, registry: Registry, record: JobRecord) -> bool:
        """SIGINT to the job's supervisor, which forwards it to the runner; a job whose
        supervisor is gone is ended here."""
        if record.host != socket.gethostname():
            raise UsageError(
                f"job {record.job_id} runs on host {record.host}; run `trn cancel` there"
            )
        if record.pid and proc.alive(record.pid, record.pid_start):
            try:
                os.kill(record.pid, signal.SIGINT)
                return True
            except ProcessLookupError:
                pass  # it ended between the check and the signal: a lost job, or a finished one
        cancel_lost(registry, record)
        return False

    def submit(self, plan: Plan) -> JobRecord:
        """Create the job and start its supervisor in the background, on this host (``trn run
        --detach``, ``trn.submit``): ``python -m trn.host detach-job`` (:mod:`trn.lifecycle.
        detach`). ``trn run`` without ``--detach`` hosts the supervisor in its own process."""
        return submit(plan)

    def describe(self, record: JobRecord) -> JobView:
        return view(record)

    def handle(self, record: JobRecord) -> str | None:
        return None

    def logs(self, record: JobRecord) -> list[Path]:
        job_dir = JobDir(record.job_dir)
        return [job_dir.runner_log, job_dir.supervisor_log]


def cancel_lost(registry: Registry, record: JobRecord) -> None:
    """A ``lost`` job: stop an orphaned runner if there is one (SIGINT: it saves at the next
    step boundary), then end it here, as its supervisor would have."""
    from trn.lifecycle.end import REAP_WAIT_S, end_job, stop_runner

    if registry.load(record.job_dir).state in TERMINAL:  # its supervisor finished it meanwhile
        return
    runner = record.runner_pid
    if runner and proc.alive(runner):
        stop_runner(runner, signal.SIGINT, REAP_WAIT_S)
    end_job(record, "cancelled", reason="cancelled by `trn cancel` after its supervisor was lost")


def start(verb: str, spec: Path, log: Path, home: Path) -> tuple[int | None, Any]:
    """Start ``verb`` (:data:`~trn.handoff.DETACH_JOB`, :data:`~trn.handoff.DETACH_SWEEP`) of
    ``spec`` detached; its pid (None: it died before it forked) and the pipe whose close is
    its go."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            job_command(verb, spec),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out,
            start_new_session=True,
            env={**os.environ, "TRN_HOME": str(home)},  # --log-dir / trn.submit(log_dir=)
        )
    assert process.stdin is not None and process.stdout is not None
    line = process.stdout.readline().strip()
    process.wait()
    return (int(line) if line.isdigit() else None), process.stdin


# -- a job ----------------------------------------------------------------------------------
def submit(plan: Plan) -> JobRecord:
    """Record the job, start its detached supervisor, return the record (``submitted``)."""
    from trn import fsutil
    from trn.errors import JobFailed
    from trn.lifecycle.supervisor import Supervisor

    sup = Supervisor.create(plan)
    if sup.stop_signal is not None:  # Ctrl-C while it was being created: it never starts
        sup.run()
        raise KeyboardInterrupt
    record = sup.hand_off()  # the detached supervisor attaches, with its own event writer
    job_dir = JobDir(record.job_dir)
    fsutil.atomic_write_bytes(job_dir.plan, sup.plan.to_json().encode())  # its config filled in
    pid, go = start(DETACH_JOB, job_dir.plan, job_dir.supervisor_log, plan.home)
    if pid is None:  # it died before forking: say so in the record, not by a hang
        go.close()
        sup.end_unstarted()
        raise JobFailed(
            f"job {record.job_id}: the detached supervisor did not start; see {JobDir.SUPERVISOR_LOG}"
        )
    sup.update(pid=pid, pid_start=proc.start_time(pid))
    go.close()
    return sup.record


LOCAL = Local()
