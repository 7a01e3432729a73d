"""The local backend: a supervisor process on this host owns the job until it ends."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

from trn import proc
from trn.errors import UsageError
from trn.jobdir import JobDir
from trn.registry.record import TERMINAL, effective_state


class Local:
    name = "local"

    def cancel(self, registry: Any, record: dict[str, Any]) -> bool:
        """SIGINT to the job's supervisor, which forwards it to the runner; a job whose
        supervisor is gone is ended here."""
        if record.get("host") != socket.gethostname():
            raise UsageError(
                f"job {record['job_id']} runs on host {record.get('host')}; run `trn cancel` there"
            )
        if proc.alive(record.get("pid"), record.get("pid_start")):
            try:
                os.kill(int(record["pid"]), signal.SIGINT)
                return True
            except ProcessLookupError:
                pass  # it ended between the check and the signal: a lost job, or a finished one
        cancel_lost(registry, record)
        return False

    def state(self, record: dict[str, Any]) -> str:
        return effective_state(record)

    def details(self, record: dict[str, Any]) -> dict[str, Any]:
        return {}

    def handle(self, record: dict[str, Any]) -> str | None:
        return None

    def logs(self, record: dict[str, Any]) -> list[Path]:
        job_dir = JobDir(record["job_dir"])
        return [job_dir.runner_log, job_dir.supervisor_log]


def cancel_lost(registry: Any, record: dict[str, Any]) -> None:
    """A ``lost`` job: stop an orphaned runner if there is one (SIGINT: it saves at the next
    step boundary), then end it here, as its supervisor would have."""
    from trn.lifecycle.end import REAP_WAIT_S, end_job, stop_runner

    current = registry.read(Path(record["job_dir"]))
    if current.get("state") in TERMINAL:  # its supervisor finished it meanwhile
        record.update(current)
        return
    runner = record.get("runner_pid")
    if runner and proc.alive(runner):
        stop_runner(int(runner), signal.SIGINT, REAP_WAIT_S)
    end_job(record, "cancelled", reason="cancelled by `trn cancel` after its supervisor was lost")


LOCAL = Local()
