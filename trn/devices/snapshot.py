"""A snapshot of the machine's devices: plain dataclasses, no NVML, no torch.

:mod:`trn.devices.nvml` fills one from NVML; the allocator and ``trn doctor`` only read it, so
tests build snapshots by hand or through a fake NVML.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Links between two GPUs, closest first (nvidia-smi topo -m names). A lower rank is closer.
LINKS = ["NVLINK", "PIX", "PXB", "PHB", "NODE", "SYS"]
LINK_HELP = {
    "NVLINK": "NVLink",
    "PIX": "same PCIe switch",
    "PXB": "PCIe switches, same root",
    "PHB": "same PCIe host bridge",
    "NODE": "same socket (NUMA node)",
    "SYS": "across sockets",
}


@dataclass
class GpuProcess:
    """A compute process on a GPU (another program, or a trn job)."""

    pid: int
    used_memory_mb: int | None = None
    name: str | None = None


@dataclass
class GpuInfo:
    """One allocatable GPU: a whole GPU, or one MIG slice of a GPU in MIG mode."""

    index: int  # NVML index of the (parent) GPU
    uuid: str  # GPU-… or MIG-…: what CUDA_VISIBLE_DEVICES gets
    name: str
    pci_bus_id: str = ""
    memory_total_mb: int = 0
    memory_free_mb: int = 0
    utilization_pct: int | None = None
    compute_capability: str | None = None
    processes: list[GpuProcess] = field(default_factory=list)
    mig_parent: str | None = None  # the parent GPU's UUID for a MIG slice
    mig_index: int | None = None
    vendor: str = "nvidia"

    @property
    def label(self) -> str:
        """``cuda:3`` or ``cuda:3/mig1`` (NVML index; the runner sees its own 0..n-1)."""
        base = f"cuda:{self.index}"
        return base if self.mig_index is None else f"{base}/mig{self.mig_index}"


@dataclass
class Snapshot:
    """What this process may use right now, and why not when it may not."""

    gpus: list[GpuInfo] = field(default_factory=list)  # every GPU/MIG slice NVML reports
    links: dict[str, str] = field(default_factory=dict)  # "uuidA|uuidB" -> a LINKS name
    pool: list[str] | None = None  # UUIDs this process may use (None: all of ``gpus``)
    pool_source: str | None = None  # e.g. "CUDA_VISIBLE_DEVICES=0,1" or "SLURM_JOB_GPUS=2"
    cpus: int = 1
    cpu_detail: str = ""
    nvml: str = "not loaded"  # "ok", or why NVML gives no GPUs ("library not found", …)
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    torch: dict[str, str | None] = field(default_factory=dict)  # version, cuda, hip (no import)
    host: str = ""

    def usable(self) -> list[GpuInfo]:
        """The GPUs inside the pool, in NVML order."""
        if self.pool is None:
            return list(self.gpus)
        by_uuid = {g.uuid: g for g in self.gpus}
        return [by_uuid[u] for u in self.pool if u in by_uuid]

    def link(self, a: str, b: str) -> str:
        return self.links.get(f"{a}|{b}") or self.links.get(f"{b}|{a}") or "SYS"

    def distance(self, a: str, b: str) -> int:
        return LINKS.index(self.link(a, b))

    def gpu_build(self) -> str | None:
        """``cuda 12.4`` / ``rocm 6.1`` when torch can drive GPUs, else None (a CPU build)."""
        if self.torch.get("cuda"):
            return f"cuda {self.torch['cuda']}"
        if self.torch.get("hip"):
            return f"rocm {self.torch['hip']}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
