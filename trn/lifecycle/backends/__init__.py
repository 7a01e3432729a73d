"""Backends: who runs a job's processes, and so how to stop it and ask after it.

A job record names its backend (``backend``: ``local``, ``slurm``); the CLI and the API ask the
backend, never the record's launcher-specific fields. A new backend is one module here with the
operations of :class:`Backend`, and one line in :data:`BACKENDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from trn.registry.record import backend_name


class Backend(Protocol):
    name: str

    def cancel(self, registry: Any, record: dict[str, Any]) -> bool:
        """Ask the job to stop. True: a process will end it (wait for its record); False: it
        was ended here (nobody else would). ``UsageError`` if it cannot be reached from here."""
        ...

    def state(self, record: dict[str, Any]) -> str:
        """The state to show: the record's, or ``lost`` when nobody will end it."""
        ...

    def details(self, record: dict[str, Any]) -> dict[str, Any]:
        """What the backend itself says about the job (e.g. Slurm's queue state), to show."""
        ...

    def handle(self, record: dict[str, Any]) -> str | None:
        """The backend's own name for the job (a Slurm job id), if it has one."""
        ...

    def logs(self, record: dict[str, Any]) -> list[Path]:
        """Where the job's logs are, the runner's first."""
        ...


def backend_of(record: dict[str, Any]) -> Backend:
    """The backend running ``record``'s job."""
    name = backend_name(record)
    if name == "slurm":
        from trn.lifecycle.backends.slurm import SLURM

        return SLURM
    from trn.lifecycle.backends.local import LOCAL

    return LOCAL
