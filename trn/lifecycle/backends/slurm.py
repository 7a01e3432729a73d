"""The Slurm backend: the job's processes are Slurm's (``extra.slurm_job_id``)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir
from trn.registry.record import effective_state


class Slurm:
    name = "slurm"

    def cancel(self, registry: Any, record: dict[str, Any]) -> bool:
        """A job that started on this host is asked through its supervisor, as a local one;
        any other through Slurm (:meth:`cancel_in_slurm`)."""
        here = record.get("host") == socket.gethostname()
        if (record["state"] != "submitted" and here) or not self.handle(record):
            from trn.lifecycle.backends.local import LOCAL

            return LOCAL.cancel(registry, record)
        return self.cancel_in_slurm(record)

    def cancel_in_slurm(self, record: dict[str, Any]) -> bool:
        """SIGINT to a running job's processes (the runner checkpoints and the job ends
        ``cancelled``); ``scancel`` for one that never started, whose record is ended here."""
        from trn.launcher.slurm import queued, scancel

        job_id = str(self.handle(record))
        if queued([job_id]).get(job_id) == "RUNNING":
            scancel(job_id, "INT")
            return True
        scancel(job_id)
        if record.get("state") == "submitted":
            from trn.lifecycle.end import end_job

            end_job(record, "cancelled", reason=f"Slurm job {job_id} cancelled before it started")
        return True

    def state(self, record: dict[str, Any]) -> str:
        return effective_state(record)

    def details(self, record: dict[str, Any]) -> dict[str, Any]:
        """Slurm's view of a queued job: its queue state (PENDING, GONE, UNKNOWN, ...)."""
        job_id = self.handle(record)
        if record.get("state") != "submitted" or not job_id:
            return {}
        from trn.launcher.slurm import queued

        try:
            return {"slurm_state": queued([job_id]).get(job_id, "GONE")}
        except (OSError, subprocess.SubprocessError):
            return {"slurm_state": "UNKNOWN"}

    def handle(self, record: dict[str, Any]) -> str | None:
        job_id = (record.get("extra") or {}).get("slurm_job_id")
        return str(job_id) if job_id else None

    def logs(self, record: dict[str, Any]) -> list[Path]:
        job_dir = JobDir(record["job_dir"])
        return [job_dir.runner_log, job_dir.supervisor_log]


SLURM = Slurm()
