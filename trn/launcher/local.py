"""``hydra/launcher=trn``: every job of a batch a fresh process on its own slots.

trn jobs (:class:`~trn.launcher.task.SweepTask`) run as :mod:`trn.launcher.job` processes whose
supervisors lease their GPUs; any other Hydra task runs in a :mod:`trn.launcher.worker` process
and the launcher holds its GPUs' leases. Either way a :class:`JobReturn` per job comes back, in
sweep order, so Hydra's sweepers (basic, Optuna, ...) work on top.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trn.errors import JobFailed
from trn.launcher.pool import Job, Outcome, Scheduler
from trn.launcher.slots import Pool, build_pool
from trn.launcher.task import SweepTask


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
    from hydra.core.utils import configure_log, setup_globals

    setup_globals()
    config, task = launcher.config, launcher.task_function
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    configs = [
        sweep_config(launcher, list(ov), initial_job_idx + i) for i, ov in enumerate(job_overrides)
    ]
    params = launcher.params
    trn_jobs = isinstance(task, SweepTask)
    pool = build_pool(
        str(params.get("devices", "auto")),
        params.get("cpu_slots"),
        task.home if trn_jobs else _home(),
        hold_leases=not trn_jobs,
    )
    tmp = Path(tempfile.mkdtemp(prefix="trn-launch-"))
    try:
        jobs = [
            _trn_job(task, cfg, tmp, pool) if trn_jobs else _worker_job(launcher, cfg, tmp, pool)
            for cfg in configs
        ]
        scheduler = Scheduler(
            pool,
            max_parallel=params.get("max_parallel"),
            stagger_s=float(params.get("stagger_s") or 0.0),
            grace_s=float(params.get("grace_s") or 60.0),
        )
        outcomes = scheduler.run(jobs)
        returns = [
            _collect(cfg, out, tmp, trn_jobs) for cfg, out in zip(configs, outcomes, strict=True)
        ]
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


def slots_needed(cfg: Any, pool: Pool, gpus_per_job: int = 1) -> int:
    """GPU slots: ``devices.count`` (x ``num_nodes`` never: one machine); CPU slots: processes."""
    devices = cfg.get("devices") if hasattr(cfg, "get") else None
    if pool.kind == "gpu":
        if devices is not None and devices.get("kind") == "cpu":
            return 1
        count = devices.get("count") if devices is not None else None
        return max(1, int(count or gpus_per_job))
    processes = devices.get("processes") if devices is not None else None
    return max(1, min(int(processes or 1), len(pool.slots)))


def _trn_job(task: SweepTask, cfg: Any, tmp: Path, pool: Pool) -> Job:
    num = int(cfg.hydra.job.num)
    spec = {
        "overrides": list(cfg.hydra.overrides.task),
        "sweep_id": task.sweep_id,
        "home": str(task.home),
        "config_dir": str(task.config_dir) if task.config_dir else None,
        "num": num,
        "stderr": task.to_stderr,
        "result": str(tmp / f"{num}.result"),
    }
    (tmp / f"{num}.json").write_text(json.dumps(spec))
    argv = [sys.executable, "-m", "trn.launcher.job", str(tmp / f"{num}.json")]
    return Job(num, argv, need=slots_needed(cfg, pool), env={"TRN_HOME": str(task.home)})


def _worker_job(launcher: Any, cfg: Any, tmp: Path, pool: Pool) -> Job:
    from hydra.core.singleton import Singleton

    from trn.launcher.worker import write_payload

    num = int(cfg.hydra.job.num)
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
    need = slots_needed(cfg, pool, int(launcher.params.get("gpus_per_job") or 1))
    return Job(num, argv, need=need)


def _collect(cfg: Any, out: Outcome, tmp: Path, trn_jobs: bool) -> Any:
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    result = tmp / f"{out.index}.result"
    ret = None
    if trn_jobs:
        ret = JobReturn(
            overrides=list(cfg.hydra.overrides.task),
            cfg=OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]),
            hydra_cfg=cfg,
            task_name=cfg.hydra.job.name,
        )
        _trn_result(ret, result, out)
    elif result.exists():
        import pickle

        ret = pickle.loads(result.read_bytes())
    if ret is None:
        ret = JobReturn(
            overrides=list(cfg.hydra.overrides.task), hydra_cfg=cfg, task_name=cfg.hydra.job.name
        )
        ret.status, ret._return_value = JobStatus.FAILED, JobFailed(_why(out))
    return ret


def _trn_result(ret: Any, result: Path, out: Outcome) -> None:
    from hydra.core.utils import JobStatus

    from trn.launcher.task import objective_of

    try:
        data = json.loads(result.read_text())
    except (OSError, ValueError):
        data = {"error": _why(out)}
    try:
        if "record" not in data:
            raise JobFailed(data.get("error") or _why(out))
        ret._return_value, ret.status = objective_of(data["record"]), JobStatus.COMPLETED
    except Exception as err:  # noqa: BLE001 - a failed job is a failed JobReturn
        ret._return_value, ret.status = err, JobStatus.FAILED


def _why(out: Outcome) -> str:
    if out.rc is None:
        return "cancelled before it started" if out.cancelled else "never started"
    if out.rc < 0:
        import signal

        return f"job process killed by {signal.Signals(-out.rc).name}"
    return f"job process exited with code {out.rc} and no result"


def _home() -> Path:
    from trn.paths import trn_home

    return trn_home()
