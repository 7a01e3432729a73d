"""The Slurm backend: the job's processes are Slurm's (``extra.slurm_job_id``).

Everything Slurm is this package: the backend (submit, describe, cancel, logs), :mod:`.queue`
(the request for a job's devices, and what Slurm's queue says), :mod:`.launch`
(``hydra/launcher=slurm``: a sweep's jobs submitted here, then waited for) and :mod:`.node`
(the tasks in the allocation: task 0 supervises, every task runs its rank).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trn.jobdir import JobDir
from trn.registry.record import JobRecord, JobView, view
from trn.registry.store import Registry

if TYPE_CHECKING:
    from trn.lifecycle.plan import Plan


@dataclass(frozen=True)
class Submitted:
    """A trn job handed to Slurm: its record as submitted (``extra.slurm_job_id``, no pid: its
    processes are Slurm's) and submitit's handle of the Slurm job (its id, its files)."""

    record: JobRecord
    slurm: Any  # submitit.Job


class Slurm:
    name = "slurm"

    def submit(
        self,
        plan: Plan,
        params: dict[str, Any],
        folder: Path,
        echo: Callable[[dict[str, Any]], None] | None = None,
    ) -> Submitted:
        """Create the job (record ``submitted``, ``job_submitted``) and ``sbatch`` it through
        submitit: the request for its devices from ``params`` (``hydra.launcher``'s:
        :func:`.queue.resources`), submitit's files under ``folder``, task 0 attaching to the
        job in the allocation (:class:`.node.NodeJob`)."""
        import submitit

        from trn.lifecycle.backends.slurm.node import NodeJob
        from trn.lifecycle.backends.slurm.queue import allocation, resources
        from trn.lifecycle.supervisor import Supervisor

        res = resources(plan.config["devices"], params)
        plan = replace(plan, allocation=allocation(res), backend=self.name)
        sup = Supervisor.create(plan, echo=echo)
        record = sup.record
        executor = submitit.SlurmExecutor(
            folder=folder / "%j", max_num_timeout=int(params.get("max_num_timeout") or 0)
        )
        executor.update_parameters(job_name=f"trn-{record.job_id}", **res)
        slurm_job = executor.submit(NodeJob(sup.plan.to_json(), record.job_dir))  # config filled
        # its process is Slurm's now (task 0 attaches to the job): `trn status` asks Slurm
        extra = {**record.extra, "slurm_job_id": slurm_job.job_id}
        return Submitted(sup.hand_off(pid=None, pid_start=None, extra=extra), slurm_job)

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
        from trn.lifecycle.backends.slurm.queue import queued, scancel

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
        from trn.lifecycle.backends.slurm.queue import queued

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
