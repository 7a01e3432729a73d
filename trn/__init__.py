"""trn: a Hydra-configured experiment framework for PyTorch.

Importing ``trn`` stays light: nothing here imports torch, lightning or hydra. The Python API
(:mod:`trn.api`: ``trn.run``, ``trn.submit``, ``trn.evaluate``, ``trn.jobs``, ``trn.job``) and the typed errors
(:mod:`trn.errors`) load on first use, and so does ``trn.Client`` (:mod:`trn.client`), which
drives a remote ``trn serve`` with the same calls.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("run", "submit", "evaluate", "jobs", "job", "Job")
_ERRORS = ("TrnError", "UsageError", "ConfigError", "NotFound", "NothingToDo", "JobFailed")
__all__ = [*_API, *_ERRORS, "Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from trn import api

        return getattr(api, name)
    if name in _ERRORS:
        from trn import errors

        return getattr(errors, name)
    if name == "Client":  # a remote trn serve (trn.client: the standard library only)
        from trn.client import Client

        return Client
    raise AttributeError(f"module 'trn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
