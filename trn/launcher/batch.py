"""One batch of a sweep's jobs as Hydra hands them over and as they come back, whichever kind of
process runs them (:mod:`trn.launcher.trn_jobs` or :mod:`trn.launcher.worker`): each job's sweep
config, and the :class:`JobReturn` of a job whose process left no result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trn.errors import JobFailed
from trn.launcher.scheduler import Outcome

if TYPE_CHECKING:
    from omegaconf import DictConfig

# what a launcher keeps of a job it started, to make its JobReturn: its overrides and its config
Batch = tuple[list[str], "DictConfig"]


def sweep_config(launcher: Any, overrides: list[str], idx: int) -> Any:
    from omegaconf import open_dict

    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.id = f"{idx}"
        cfg.hydra.job.num = idx
    return cfg


def failed_return(overrides: list[str], cfg: Any, why: str) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn(overrides=overrides, hydra_cfg=cfg)
    ret.status, ret._return_value = JobStatus.FAILED, JobFailed(why)
    return ret


def why(out: Outcome) -> str:
    """One line: why a job's process left no result."""
    if out.rc is None:
        return "cancelled before it started" if out.cancelled else "never started"
    if out.rc < 0:
        import signal

        return f"job process killed by {signal.Signals(-out.rc).name}"
    return f"job process exited with code {out.rc} and no result"
