"""``hydra/launcher=slurm``: each sweep job a Slurm job, submitted with submitit.

The launcher plans and submits each job like ``trn run`` (record ``submitted`` plus
``extra.slurm_job_id``, ``job_submitted``), asks Slurm for the job's devices (nodes, one task per
GPU or CPU process, GPUs per node: what Lightning's ``SLURMEnvironment`` checks), then waits.
:mod:`trn.launcher.slurm_node` runs inside the allocation. Ctrl-C cancels the Slurm jobs.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trn.errors import JobFailed, UsageError
from trn.launcher.records import end_record


def resources(devices: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The Slurm request for a ``devices`` config: one task per GPU (or per CPU process)."""
    from trn.devices.request import DeviceRequest

    req = DeviceRequest.from_config(devices)
    gpu = req.kind == "gpu"
    tasks = req.count if gpu else req.processes
    out: dict[str, Any] = {
        "nodes": req.num_nodes,
        "ntasks_per_node": tasks,
        "cpus_per_task": params.get("cpus_per_task") or 1,
        "time": int(params.get("timeout_min") or 60),
        "signal_delay_s": int(params.get("signal_delay_s") or 90),
    }
    if gpu:
        out["gpus_per_node"] = req.count
    for key in ("partition", "account", "qos", "constraint", "gres"):
        if params.get(key):
            out[key] = params[key]
    if params.get("mem_gb"):
        out["mem"] = f"{params['mem_gb']}GB"
    if params.get("additional_parameters"):
        out["additional_parameters"] = dict(params["additional_parameters"])
    if params.get("setup"):
        out["setup"] = list(params["setup"])
    return out


def allocation(res: dict[str, Any]) -> Any:
    """The Trainer's view of the Slurm request (``devices`` per node x ``num_nodes``)."""
    from trn.devices.allocate import Allocation

    gpu, tasks, nodes = "gpus_per_node" in res, res["ntasks_per_node"], res["nodes"]
    threads = str(res["cpus_per_task"])
    return Allocation(
        accelerator="gpu" if gpu else "cpu",
        devices=tasks,
        strategy="ddp" if tasks * nodes > 1 else "auto",
        num_nodes=nodes,
        device_ids=[f"slurm:{'gpu' if gpu else 'cpu'}{i}" for i in range(tasks * nodes)],
        env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
    )


def launch(launcher: Any, job_overrides: Any, initial_job_idx: int) -> list:
    from trn.launcher.task import SweepTask

    task = launcher.task_function
    if not isinstance(task, SweepTask):
        raise UsageError(
            "hydra/launcher=slurm runs trn jobs (`trn run -m`); for other Hydra "
            "apps use hydra/launcher=submitit_slurm"
        )
    folder = Path(str(launcher.config.hydra.sweep.dir)) / ".submitit"
    jobs = [
        _submit(task, launcher.params, list(ov), initial_job_idx + i, folder)
        for i, ov in enumerate(job_overrides)
    ]
    interrupted = _wait(jobs, float(launcher.params.get("poll_s") or 2.0))
    returns = [_job_return(job, interrupted) for job in jobs]
    if interrupted:
        raise KeyboardInterrupt
    return returns


def _submit(
    task: Any, params: dict[str, Any], overrides: list[str], num: int, folder: Path
) -> dict[str, Any]:
    import submitit

    from trn.launcher.job import make_echo
    from trn.launcher.slurm_node import NodeJob
    from trn.launcher.task import detached_hydra
    from trn.supervisor import Supervisor

    plan = copy.deepcopy(task.plans.get(tuple(overrides)))
    if plan is None:
        from trn.plan import make_plan

        with detached_hydra():
            plan = make_plan(overrides, home=task.home, config_dir=task.config_dir)
    plan.sweep_id = task.sweep_id
    res = resources(plan.config["devices"], params)
    plan.allocation = allocation(res)
    sup = Supervisor(plan, echo=make_echo(sys.stderr if task.to_stderr else sys.stdout, num))
    record = sup.submit()
    executor = submitit.SlurmExecutor(
        folder=folder / "%j", max_num_timeout=int(params.get("max_num_timeout") or 0)
    )
    executor.update_parameters(job_name=f"trn-{record.job_id}", **res)
    slurm_job = executor.submit(NodeJob(plan, record.job_dir))
    record.pid = None  # its process is Slurm's now: `trn status` asks Slurm, never "lost"
    record.extra["slurm_job_id"] = slurm_job.job_id
    sup.registry.write(record)
    sup.events.close()
    return {
        "num": num,
        "overrides": overrides,
        "record": record,
        "slurm": slurm_job,
        "home": task.home,
    }


def _wait(jobs: list[dict[str, Any]], poll_s: float) -> bool:
    """Until every Slurm job has left the queue; Ctrl-C/SIGTERM cancels them all."""
    from trn.registry.store import Registry

    stop: list[int] = []
    gone = 0
    handler = lambda signum, frame: stop.append(signum)  # noqa: E731
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            if len(stop) == 1:
                stop.append(0)  # cancel once
                for job in jobs:
                    cancel(Registry.read(Path(job["record"].job_dir)))
            try:
                active = queued([job["slurm"].job_id for job in jobs])
            except OSError:  # slurmctld busy or restarting: look again
                active = {"?": "UNKNOWN"}
            gone = 0 if active else gone + 1
            if gone >= 2:  # twice out of the queue: ended (sacct may be off: not asked)
                return bool(stop)
            time.sleep(poll_s)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _job_return(job: dict[str, Any], cancelled: bool) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    from trn.launcher.task import objective_of

    ret = JobReturn(overrides=job["overrides"], task_name="trn")
    record = final_record(job, cancelled)
    try:
        ret._return_value, ret.status = objective_of(record), JobStatus.COMPLETED
    except JobFailed as err:
        ret._return_value, ret.status = err, JobStatus.FAILED
    return ret


def final_record(job: dict[str, Any], cancelled: bool = False) -> dict[str, Any]:
    """The record the Slurm job returned (a resumed job's, after a requeue); else the one on
    disk, ended here as failed if Slurm dropped the job before it could end it."""
    from trn.registry.store import Registry

    if job["slurm"].paths.result_pickle.exists():  # never ask sacct: it may be off
        try:
            result = job["slurm"].result()
            if isinstance(result, dict):
                return result
        except Exception:  # noqa: BLE001 - it raised on the node: the record says what it can
            pass
    record = Registry.read(Path(job["record"].job_dir))
    if record["state"] in ("submitted", "running") and cancelled:
        record = end_record(record, "cancelled", "the sweep was cancelled (Ctrl-C/SIGTERM)")
    elif record["state"] in ("submitted", "running"):
        stderr = job["slurm"].paths.stderr
        record = end_record(record, "failed", f"the Slurm job ended without a result; see {stderr}")
    return record


def queued(job_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each job still in its queue (PENDING, RUNNING, ...); {} if none."""
    if not job_ids:
        return {}
    proc = subprocess.run(
        ["squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode and "Invalid job id" not in proc.stderr:  # unknown ids: long gone
        raise OSError(f"squeue failed: {proc.stderr.strip()}")
    pairs = (line.split() for line in proc.stdout.splitlines() if line.strip())
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def slurm_state(record: dict[str, Any]) -> str | None:
    """What Slurm says about a record's job (for ``trn status``), None if it is not Slurm's."""
    job_id = (record.get("extra") or {}).get("slurm_job_id")
    if not job_id:
        return None
    try:
        return queued([str(job_id)]).get(str(job_id), "GONE")
    except (OSError, subprocess.SubprocessError):
        return "UNKNOWN"


def cancel(record: dict[str, Any]) -> bool:
    """``trn cancel`` for a Slurm job: SIGINT to a running job's processes (the runner
    checkpoints and the job ends ``cancelled``); ``scancel`` for one that never started, whose
    record is ended here. False if the record is not a Slurm job's."""
    job_id = str((record.get("extra") or {}).get("slurm_job_id") or "")
    if not job_id:
        return False
    if queued([job_id]).get(job_id) == "RUNNING":
        subprocess.run(["scancel", "--signal=INT", job_id], check=False, timeout=30)
        return True
    subprocess.run(["scancel", job_id], check=False, timeout=30)
    if record.get("state") == "submitted":
        end_record(record, "cancelled", f"Slurm job {job_id} cancelled before it started")
    return True
