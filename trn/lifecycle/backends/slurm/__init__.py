"""The Slurm backend: the job's processes are Slurm's (``extra.slurm_job_id``)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from trn.jobdir import JobDir
from trn.registry.record import JobRecord, JobView, view
from trn.registry.store import Registry


class Slurm:
    name = "slurm"

    def cancel(self, registry: Registry, record: JobRecord) -> bool:
        """A job that started on this host is asked through its supervisor, as a local one;
        any other through Slurm (:meth:`cancel_in_slurm`)."""
        here = record.host == socket.gethostname()
        if (view(record).state != "submitted" and here) or not self.handle(record):
            from trn.lifecycle.backends.local import LOCAL

            return LOCAL.cancel(registry, record)
        return self.cancel_in_slurm(record)

    def cancel_in_slurm(self, record: JobRecord) -> bool:
        """SIGINT to a running job's processes (the runner checkpoints and the job ends
        ``cancelled``); ``scancel`` for one that never started, whose record is ended here."""
        from trn.launcher.slurm import queued, scancel

        job_id = str(self.handle(record))
        if queued([job_id]).get(job_id) == "RUNNING":
            scancel(job_id, "INT")
            return True
        scancel(job_id)
        if record.state == "submitted":
            from trn.lifecycle.end import end_job

            end_job(record, "cancelled", reason=f"Slurm job {job_id} cancelled before it started")
        return True

    def describe(self, record: JobRecord) -> JobView:
        """The record's view, and Slurm's word on a queued job: its queue state (PENDING,
        GONE, UNKNOWN, ...) as ``slurm_state``."""
        shown = view(record)
        job_id = self.handle(record)
        if record.state != "submitted" or not job_id:
            return shown
        from trn.launcher.slurm import queued

        try:
            queue = queued([job_id]).get(job_id, "GONE")
        except (OSError, subprocess.SubprocessError):
            queue = "UNKNOWN"
        return JobView(record, shown.state, {"slurm_state": queue})

    def handle(self, record: JobRecord) -> str | None:
        job_id = record.extra.get("slurm_job_id")
        return str(job_id) if job_id else None

    def logs(self, record: JobRecord) -> list[Path]:
        job_dir = JobDir(record.job_dir)
        return [job_dir.runner_log, job_dir.supervisor_log]


SLURM = Slurm()
