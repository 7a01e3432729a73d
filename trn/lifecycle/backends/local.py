"""The local backend: a supervisor process on this host owns the job until it ends."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from trn import proc
from trn.errors import UsageError
from trn.jobdir import JobDir
from trn.registry.record import TERMINAL, JobRecord, JobView, view
from trn.registry.store import Registry


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


LOCAL = Local()
