"""Backends: who runs a job's processes, and so how to stop it and ask after it.

A job record names its backend (``backend``: ``local``, ``slurm``); the CLI and the API ask the
backend, never the record's launcher-specific fields. A backend is one module or package here
(``local.py``; ``slurm/``: its request and queue, the launcher's submit and wait, the node side)
with the operations of :class:`Backend`; a new one is one more, and a line in :func:`backend_of`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from trn.registry.record import JobRecord, JobView, backend_name
from trn.registry.store import Registry


class Backend(Protocol):
    name: str

    # ``submit(plan, ...) -> JobRecord``: create the job from its plan (record ``submitted``,
    # ``job_submitted``) and hand it to what runs it; what each needs besides the plan differs
    # (Slurm: the launcher's parameters and submitit's folder), so it is not part of the
    # protocol's signature: :meth:`Local.submit`, :meth:`Slurm.submit`.

    def cancel(self, registry: Registry, record: JobRecord) -> bool:
        """Ask the job to stop. True: a process will end it (wait for its record); False: it
        was ended here (nobody else would). ``UsageError`` if it cannot be reached from here."""
        ...

    def describe(self, record: JobRecord) -> JobView:
        """The job as shown: its state (the record's, or ``lost`` when nobody will end it)
        and what the backend itself says about it (e.g. Slurm's queue state)."""
        ...

    def handle(self, record: JobRecord) -> str | None:
        """The backend's own name for the job (a Slurm job id), if it has one."""
        ...

    def logs(self, record: JobRecord) -> list[Path]:
        """Where the job's logs are, the runner's first."""
        ...


def backend_of(record: JobRecord) -> Backend:
    """The backend running ``record``'s job."""
    name = backend_name(record)
    if name == "slurm":
        from trn.lifecycle.backends.slurm import SLURM

        return SLURM
    from trn.lifecycle.backends.local import LOCAL

    return LOCAL
