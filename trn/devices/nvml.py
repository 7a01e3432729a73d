"""Read NVML into a :class:`Snapshot`: the only module that talks to ``pynvml`` (nvidia-ml-py).

Everything goes through the ``nvml`` object handed in (the ``pynvml`` module, or a fake machine
that answers the same calls), so tests exercise this code against a fake machine; which one it
is, :mod:`trn.devices.probe` decides. No library or no driver means "no NVIDIA GPUs", never an
error.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from trn.devices import host
from trn.devices.snapshot import GpuInfo, GpuProcess, Snapshot

MB = 1024 * 1024
NVLINK_CAPS = 2  # NVML_P2P_CAPS_INDEX_NVLINK; status 0 is NVML_P2P_STATUS_OK
TOPOLOGY = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}


def read_snapshot(nvml: Any, env: Mapping[str, str] | None = None) -> Snapshot:
    """The machine now, through ``nvml`` (``None``: nvidia-ml-py is not installed): GPUs (else
    AMD best effort), the inherited pool, usable CPUs."""
    env = os.environ if env is None else env
    snap = Snapshot(torch=host.torch_build(), host=socket.gethostname())
    snap.cpus, snap.cpu_detail = host.cpu_limit()
    if nvml is None:
        snap.nvml = "nvidia-ml-py not installed"
    else:
        _read(nvml, snap)
    if not snap.gpus and snap.torch.get("hip"):
        from trn.devices import amd

        snap.gpus = amd.read_gpus()
    snap.pool, snap.pool_source = host.pool_from_env(snap.gpus, env)
    return snap


def _read(nvml: Any, snap: Snapshot) -> None:
    try:
        nvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound / DriverNotLoaded / …: no GPUs
        snap.nvml = f"unavailable: {err}"
        return
    try:
        snap.nvml = "ok"
        snap.driver_version = _str(nvml.nvmlSystemGetDriverVersion())
        cuda = _try(nvml.nvmlSystemGetCudaDriverVersion)
        snap.cuda_driver_version = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        for index, handle in enumerate(handles):
            snap.gpus.extend(_gpus(nvml, index, handle))
        snap.links = _links(nvml, handles)
    except Exception as err:  # a GPU fell off the bus mid-read: report, do not crash
        snap.nvml = f"error: {err}"
    finally:
        _try(nvml.nvmlShutdown)


def _gpus(nvml: Any, index: int, handle: Any) -> list[GpuInfo]:
    """The whole GPU, or its MIG slices when MIG mode is on (one slice is one job's GPU)."""
    gpu = _info(nvml, index, handle)
    mode = _try(nvml.nvmlDeviceGetMigMode, handle)
    if not mode or not mode[0]:
        return [gpu]
    slices = []
    for i in range(_try(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
        mig = _try(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, i)
        if mig is None:
            continue
        part = _info(nvml, index, mig)
        part.mig_parent, part.mig_index = gpu.uuid, i
        part.name = f"{gpu.name} MIG {part.memory_total_mb // 1024}GB"
        part.compute_capability, part.pci_bus_id = gpu.compute_capability, gpu.pci_bus_id
        slices.append(part)
    return slices


def _info(nvml: Any, index: int, handle: Any) -> GpuInfo:
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    util = _try(nvml.nvmlDeviceGetUtilizationRates, handle)
    cc = _try(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    pci = _try(nvml.nvmlDeviceGetPciInfo, handle)
    return GpuInfo(
        index=index,
        uuid=_str(nvml.nvmlDeviceGetUUID(handle)),
        name=_str(_try(nvml.nvmlDeviceGetName, handle) or "GPU"),
        pci_bus_id=_str(pci.busId) if pci is not None else "",
        memory_total_mb=int(mem.total // MB),
        memory_free_mb=int(mem.free // MB),
        utilization_pct=None if util is None else int(util.gpu),
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        processes=_processes(nvml, handle),
    )


def _processes(nvml: Any, handle: Any) -> list[GpuProcess]:
    out = []
    for p in _try(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []:
        used = getattr(p, "usedGpuMemory", None)
        name = _try(nvml.nvmlSystemGetProcessName, p.pid)
        out.append(GpuProcess(int(p.pid), None if used is None else int(used // MB), _name(name)))
    return out


def _links(nvml: Any, handles: list[Any]) -> dict[str, str]:
    """How each pair of whole GPUs is connected: NVLink, else the PCIe common ancestor."""
    uuids = [_str(nvml.nvmlDeviceGetUUID(h)) for h in handles]
    links = {}
    for i in range(len(handles)):
        for j in range(i + 1, len(handles)):
            nvlink = _try(nvml.nvmlDeviceGetP2PStatus, handles[i], handles[j], NVLINK_CAPS)
            level = _try(nvml.nvmlDeviceGetTopologyCommonAncestor, handles[i], handles[j])
            links[f"{uuids[i]}|{uuids[j]}"] = (
                "NVLINK" if nvlink == 0 else TOPOLOGY.get(int(level or 50), "SYS")
            )
    return links


def _try(fn: Any, *args: Any) -> Any:
    """Optional NVML facts (not supported on this GPU, no permission) read as None."""
    try:
        return fn(*args)
    except Exception:
        return None


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _name(value: Any) -> str | None:
    return os.path.basename(_str(value)) if value else None
