"""Slurm, as trn's Hydra launcher for Slurm and its backend see it: what to ask it for, and
what its queue says.

``resources`` turns a ``devices`` config into the Slurm request (nodes, one task per GPU or CPU
process, GPUs per node: what Lightning's ``SLURMEnvironment`` checks) and ``allocation`` into the
Trainer's view of it; ``queued`` and ``scancel`` talk to Slurm. The jobs themselves are planned,
submitted and ended by :mod:`trn.lifecycle.backends.slurm.launch`.
"""

from __future__ import annotations

import subprocess
from typing import Any


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
    from trn.devices.threads import CONFIG, Threads

    gpu, tasks, nodes = "gpus_per_node" in res, res["ntasks_per_node"], res["nodes"]
    cpus = int(res["cpus_per_task"])
    threads = Threads(cpus, CONFIG, f"hydra.launcher.cpus_per_task={cpus} (Slurm's CPUs per task)")
    return Allocation(
        accelerator="gpu" if gpu else "cpu",
        devices=tasks,
        strategy="ddp" if tasks * nodes > 1 else "auto",
        num_nodes=nodes,
        device_ids=[f"slurm:{'gpu' if gpu else 'cpu'}{i}" for i in range(tasks * nodes)],
        env=threads.env(),
        threads=threads.to_dict(),
    )


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


def scancel(job_id: str, signal_name: str | None = None) -> None:
    """``scancel`` (``--signal=NAME`` to signal the job's processes instead of ending it)."""
    extra = [f"--signal={signal_name}"] if signal_name else []
    subprocess.run(["scancel", *extra, job_id], check=False, timeout=30)
