"""``trn doctor``: is this machine ready for this devices request, and if not, why not?

``check`` gathers one report (a plain dict, what ``--json`` prints); ``render`` makes it a page
for people. torch is imported inside ``torch_report`` only, to report its build and backends.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from trn.devices.allocate import Unavailable, allocate
from trn.devices.host import affinity
from trn.devices.leases import LeaseStore
from trn.devices.probe import take_snapshot
from trn.devices.request import DeviceRequest
from trn.devices.snapshot import Snapshot
from trn.errors import UsageError
from trn.jobdir import HomeDir

LOW_DISK_GB = 5.0


def check(node: dict[str, Any], home: Path, snap: Snapshot | None = None) -> dict[str, Any]:
    req = DeviceRequest.from_config(node)
    snap = snap or take_snapshot()
    leases = LeaseStore(home).holders() if HomeDir(home).leases.is_dir() else {}
    report: dict[str, Any] = {
        "host": snap.host,
        "torch": torch_report(),
        "nvml": {
            "state": snap.nvml,
            "driver_version": snap.driver_version,
            "cuda_driver_version": snap.cuda_driver_version,
        },
        "gpus": [_gpu(g, snap, leases) for g in snap.gpus],
        "topology": snap.links,
        "pool": {"source": snap.pool_source, "uuids": snap.pool},
        "cpus": {"usable": snap.cpus, "detail": snap.cpu_detail, "os_count": os.cpu_count()},
        "disk": disk_report(home),
        "request": req.to_dict(),
    }
    report["warnings"] = warnings(report, snap)
    held = LeaseStore(home).held_threads(affinity()) if HomeDir(home).leases.is_dir() else 0
    try:
        alloc = allocate(req, snap, leases, env=os.environ, held_threads=held)
        report.update(ok=True, reason=None, allocation=alloc.to_dict())
    except Unavailable as err:
        waits = " (a job would wait: devices.wait=true)" if req.wait else ""
        report.update(ok=False, reason=f"{err}{waits}", allocation=None)
    except UsageError as err:
        report.update(ok=False, reason=str(err), allocation=None)
    return report


def _gpu(g: Any, snap: Snapshot, leases: dict[str, str]) -> dict[str, Any]:
    in_pool = snap.pool is None or g.uuid in snap.pool
    users = [
        {"pid": p.pid, "name": p.name, "used_memory_mb": p.used_memory_mb} for p in g.processes
    ]
    return {
        "label": g.label,
        "uuid": g.uuid,
        "name": g.name,
        "pci_bus_id": g.pci_bus_id,
        "memory_total_mb": g.memory_total_mb,
        "memory_free_mb": g.memory_free_mb,
        "utilization_pct": g.utilization_pct,
        "compute_capability": g.compute_capability,
        "mig_parent": g.mig_parent,
        "users": users,
        "lease": leases.get(g.uuid),
        "in_pool": in_pool,
    }


def torch_report() -> dict[str, Any]:
    try:
        import torch
        import torch.distributed as dist
    except ImportError as err:
        return {"version": None, "build": f"not importable: {err}", "backends": {}}
    build = "cpu"
    if torch.version.cuda:
        build = f"cuda {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        build = f"rocm {torch.version.hip}"
    backends = {}
    if dist.is_available():
        backends = {
            "gloo": dist.is_gloo_available(),
            "nccl": dist.is_nccl_available(),
            "mpi": dist.is_mpi_available(),
        }
    gpu = build != "cpu"
    return {
        "version": torch.__version__,
        "build": build,
        "cuda_available": torch.cuda.is_available() if gpu else False,
        "device_count": torch.cuda.device_count() if gpu else 0,
        "backends": backends,
    }


def disk_report(home: Path) -> dict[str, Any]:
    path = Path(home).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return {
        "path": str(home),
        "free_gb": round(usage.free / 1e9, 1),
        "total_gb": round(usage.total / 1e9, 1),
    }


def warnings(report: dict[str, Any], snap: Snapshot) -> list[str]:
    out = []
    torch, n = report["torch"], len(snap.gpus)
    cuda = str(torch.get("build", "")).startswith("cuda")
    if n and torch.get("build") == "cpu":
        out.append(
            f"torch {torch['version']} is a CPU build: the {n} GPU(s) cannot be used; "
            "install a CUDA build of torch"
        )
    if cuda and not n:
        out.append(f"torch is built for {torch['build']} but NVML finds no GPU ({snap.nvml})")
    if cuda and snap.cuda_driver_version:
        if _version(snap.cuda_driver_version) < _version(torch["build"].split()[1]):
            out.append(
                f"the driver supports CUDA {snap.cuda_driver_version}, older than torch's "
                f"{torch['build']}: update the driver or install a matching torch"
            )
    if n > 1 and cuda and not torch.get("backends", {}).get("nccl"):
        out.append("NCCL is not available: multi-GPU DDP would fall back to gloo (slow)")
    if report["disk"]["free_gb"] < LOW_DISK_GB:
        out.append(f"only {report['disk']['free_gb']} GB free under {report['disk']['path']}")
    if snap.pool_source and snap.pool is not None and len(snap.pool) < n:
        out.append(f"{snap.pool_source} limits trn to {len(snap.pool)} of {n} GPU(s)")
    return out


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(".")[:2])
    except ValueError:
        return (0,)
