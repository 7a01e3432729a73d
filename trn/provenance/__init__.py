"""Provenance: what code and environment made a job, and comparing jobs by them.

- :mod:`trn.provenance.code`         git commit, branch, remote, dirty, ``code.patch`` (at submit)
- :mod:`trn.provenance.environment`  ``environment.json``: python, packages, devices, argv, env
- :mod:`trn.provenance.jobfiles`     reads a job's config, code and environment back
- :mod:`trn.provenance.compare`      ``trn diff``: what differs between two jobs
- :mod:`trn.provenance.best`         ``trn best``: the best job and the best checkpoint of its chain
- :mod:`trn.provenance.rerun`        the config of a rerun and the code-drift check

Nothing here imports torch or lightning; only :mod:`~trn.provenance.rerun` imports hydra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trn.provenance.code import capture_code
    from trn.provenance.environment import write_environment

__all__ = ["capture_code", "write_environment"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: the read commands import only the submodules they need."""
    if name == "capture_code":
        from trn.provenance.code import capture_code

        return capture_code
    if name == "write_environment":
        from trn.provenance.environment import write_environment

        return write_environment
    raise AttributeError(f"module 'trn.provenance' has no attribute {name!r}")
