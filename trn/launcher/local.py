"""``hydra/launcher=trn``: every job of a batch a fresh process on its own slots.

trn jobs (:class:`~trn.launcher.task.TrnTask`) run as ``python -m trn.host sweep-job`` processes
whose supervisors lease their GPUs (:mod:`trn.launcher.trn_jobs`); any other Hydra task runs in a
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
from typing import TYPE_CHECKING, Any

from trn.errors import FailedFast
from trn.launcher import trn_jobs
from trn.launcher.batch import Batch, failed_return, sweep_config, why
from trn.launcher.pool import Pool, build_pool, slots_needed
from trn.launcher.scheduler import Outcome, Scheduler, WorkItem
from trn.launcher.task import TrnTask

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn


def launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    from hydra.core.utils import configure_log, setup_globals

    setup_globals()
    config, task, params = launcher.config, launcher.task_function, launcher.params
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    is_trn = isinstance(task, TrnTask)
    home = task.home if is_trn else _home()
    pool = build_pool(
        str(params.get("devices", "auto")),
        params.get("cpu_slots"),
        home,
        not is_trn,
        jobs=len(job_overrides),
    )
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
        failed: list[tuple[str, str]] = []
        if is_trn and task.fail_fast:  # the first failure cancels the rest, as Ctrl-C would

            def stop(job_id: str, cause: str) -> None:
                if not failed:
                    failed.append((job_id, cause))
                    scheduler.stop()

            for job, _ in items:
                trn_jobs.fail_fast(job, tmp, stop)
        outcomes = scheduler.run([job for job, _ in items])
        collect = trn_jobs.collect if is_trn else _collect
        returns = [collect(ret, out, tmp) for (_, ret), out in zip(items, outcomes, strict=True)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        raise FailedFast(*failed[0])
    if scheduler.interrupted:
        raise KeyboardInterrupt  # the sweeper must not launch another batch
    return returns


def _worker_job(
    launcher: Any, overrides: list[str], num: int, tmp: Path, pool: Pool
) -> tuple[WorkItem, Batch]:
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
    return WorkItem(num, argv, need=need), (overrides, cfg)


def _collect(item: Batch, out: Outcome, tmp: Path) -> Any:
    overrides, cfg = item
    result = tmp / f"{out.index}.result"
    if result.exists():
        # safe: a JobReturn our own worker wrote into the launcher's private mkdtemp dir (0700)
        return pickle.loads(result.read_bytes())  # safe: see above
    return failed_return(overrides, cfg, why(out))


def _home() -> Path:
    from trn.paths import trn_home

    return trn_home()
