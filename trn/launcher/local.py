"""``hydra/launcher=trn``: every job of a batch a fresh process on its own slots.

trn jobs (:class:`~trn.launcher.task.TrnTask`) run as :mod:`trn.lifecycle.sweep_job` processes whose
supervisors lease their GPUs (:mod:`trn.launcher.trn_jobs`); any other Hydra task runs in a
:mod:`trn.launcher.worker` process and the launcher holds its GPUs' leases. Either way a
:class:`JobReturn` per job comes back, in sweep order, so Hydra's sweepers work on top.
"""

from __future__ import annotations

import pickle
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trn.errors import JobFailed
from trn.launcher import trn_jobs
from trn.launcher.pool import Job, Outcome, Scheduler
from trn.launcher.slots import Pool, build_pool
from trn.launcher.task import TrnTask


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
    from hydra.core.utils import configure_log, setup_globals

    setup_globals()
    config, task, params = launcher.config, launcher.task_function, launcher.params
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    is_trn = isinstance(task, TrnTask)
    home = task.home if is_trn else _home()
    pool = build_pool(str(params.get("devices", "auto")), params.get("cpu_slots"), home, not is_trn)
    tmp = Path(tempfile.mkdtemp(prefix="trn-launch-"))
    nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
    try:
        if is_trn:
            items = [
                trn_jobs.prepare(launcher, list(ov), n, tmp, pool)
                for ov, n in zip(job_overrides, nums, strict=True)
            ]
        else:
            items = [
                _worker_job(launcher, list(ov), n, tmp, pool)
                for ov, n in zip(job_overrides, nums, strict=True)
            ]
        scheduler = Scheduler(
            pool,
            max_parallel=params.get("max_parallel"),
            stagger_s=float(params.get("stagger_s") or 0.0),
            grace_s=float(params.get("grace_s") or 60.0),
        )
        outcomes = scheduler.run([job for job, _ in items])
        collect = trn_jobs.collect if is_trn else _collect
        returns = [collect(ret, out, tmp) for (_, ret), out in zip(items, outcomes, strict=True)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if scheduler.interrupted:
        raise KeyboardInterrupt  # the sweeper must not launch another batch
    return returns


def sweep_config(launcher: Any, overrides: list[str], idx: int) -> Any:
    from omegaconf import open_dict

    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.id = f"{idx}"
        cfg.hydra.job.num = idx
    return cfg


def slots_needed(devices: Any, pool: Pool, gpus_per_job: int = 1) -> int:
    """GPU slots: ``devices.count`` (one machine: never x ``num_nodes``); CPU: ``processes``."""
    if pool.kind == "gpu":
        if devices is not None and devices.get("kind") == "cpu":
            return 1
        count = devices.get("count") if devices is not None else None
        return max(1, int(count or gpus_per_job))
    processes = devices.get("processes") if devices is not None else None
    return max(1, min(int(processes or 1), len(pool.slots)))


def failed_return(overrides: list[str], cfg: Any, why: str) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn(overrides=overrides, hydra_cfg=cfg)
    ret.status, ret._return_value = JobStatus.FAILED, JobFailed(why)
    return ret


def _worker_job(launcher: Any, overrides: list[str], num: int, tmp: Path, pool: Pool) -> tuple:
    from hydra.core.singleton import Singleton

    from trn.launcher.worker import write_payload

    cfg = sweep_config(launcher, overrides, num)
    write_payload(
        tmp / f"{num}.pkl",
        hydra_context=launcher.hydra_context,
        task_function=launcher.task_function,
        config=cfg,
        singleton_state=Singleton.get_state(),
    )
    argv = [
        sys.executable,
        "-m",
        "trn.launcher.worker",
        str(tmp / f"{num}.pkl"),
        str(tmp / f"{num}.result"),
    ]
    need = slots_needed(cfg.get("devices"), pool, int(launcher.params.get("gpus_per_job") or 1))
    return Job(num, argv, need=need), (overrides, cfg)


def _collect(item: tuple, out: Outcome, tmp: Path) -> Any:
    overrides, cfg = item
    result = tmp / f"{out.index}.result"
    if result.exists():
        # safe: a JobReturn our own worker wrote into the launcher's private mkdtemp dir (0700)
        return pickle.loads(result.read_bytes())  # safe: see above
    return failed_return(overrides, cfg, why(out))


def why(out: Outcome) -> str:
    """One line: why a job's process left no result."""
    if out.rc is None:
        return "cancelled before it started" if out.cancelled else "never started"
    if out.rc < 0:
        import signal

        return f"job process killed by {signal.Signals(-out.rc).name}"
    return f"job process exited with code {out.rc} and no result"


def _home() -> Path:
    from trn.paths import trn_home

    return trn_home()
