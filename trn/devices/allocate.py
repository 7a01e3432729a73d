"""The allocator: a pure function from (request, snapshot, leases) to an :class:`Allocation`.

It raises :class:`UsageError` when the request can never be met on this machine (no GPUs, bad
ids, more GPUs than the pool holds) and :class:`Unavailable` when it cannot be met *now* (GPUs
leased by other trn jobs, busy with other programs, short of free memory): the caller waits or
fails, per ``devices.wait``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from trn.devices.request import DeviceRequest
from trn.devices.select import closest
from trn.devices.snapshot import GpuInfo, Snapshot
from trn.devices.threads import Threads, choose
from trn.errors import UsageError


class Unavailable(UsageError):
    """Enough GPUs exist, but not enough are free now; ``reasons`` says why, one per GPU."""

    def __init__(self, message: str, reasons: list[str]):
        self.reasons = reasons
        super().__init__(message)


@dataclass
class Allocation:
    """What a job runs on: the Trainer's arguments plus the runner's environment."""

    accelerator: str = "cpu"
    devices: int | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = 1
    device_ids: list[str] = field(default_factory=lambda: ["cpu"])  # GPU/MIG UUIDs, or "cpu"
    env: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # cuda:N (NVML index), for people
    threads: dict[str, Any] | None = None  # Threads.to_dict(): per process, and why

    def trainer_kwargs(self) -> dict[str, Any]:
        return {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "strategy": self.strategy,
            "num_nodes": self.num_nodes,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def threads_total(self) -> int:
        """Threads of all the job's processes on this node (what its CPU lease holds)."""
        per = int((self.threads or {}).get("count") or 1)
        return per * (self.devices if isinstance(self.devices, int) else len(self.devices))

    @property
    def gpus(self) -> list[str]:
        """The UUIDs to lease (none for a CPU job)."""
        return [] if self.accelerator == "cpu" else list(self.device_ids)


def allocate(
    request: dict[str, Any] | DeviceRequest,
    snapshot: Snapshot,
    leases: Mapping[str, str] | Iterable[str] = (),
    *,
    strict: bool = True,
    env: Mapping[str, str] | None = None,
    held_threads: int = 0,
) -> Allocation:
    """Pick devices. ``leases`` maps leased UUIDs to their holder; ``strict=False`` ignores
    leases and load (a preview of what the job would get on an idle machine). ``env``: the
    environment the job starts from (the user's thread settings win); ``held_threads``: threads
    other trn jobs hold on this process's CPUs (:mod:`trn.devices.threads`)."""
    req = DeviceRequest.from_config(request)
    pool = snapshot.usable()
    if req.kind == "cpu" or (req.kind == "auto" and not (pool and snapshot.gpu_build())):
        processes = max(1, req.processes)
        threads = choose(
            req.threads, env or {}, snapshot.cpus, snapshot.cpu_detail, held_threads, processes
        )
        return cpu_allocation(req, threads)
    wanted = check(req, snapshot, pool)
    held = leases if isinstance(leases, Mapping) else {u: "another trn job" for u in leases}
    why = {g.uuid: None if not strict else busy_reason(g, req, held) for g in wanted}
    free = [g for g in wanted if why[g.uuid] is None]
    if (req.ids and len(free) < len(wanted)) or len(free) < req.count:
        reasons = [r for r in why.values() if r]
        raise Unavailable(
            f"devices: {req.count} GPU(s) wanted, {len(free)} free now ({'; '.join(reasons)}); "
            "wait with devices.wait=true, or ask for fewer with devices.count",
            reasons,
        )
    chosen = free if req.ids else closest(snapshot, free, req.count)
    threads = choose(req.threads, env or {}, snapshot.cpus, snapshot.cpu_detail, 0, len(chosen))
    return gpu_allocation(req, chosen, threads)


def check(req: DeviceRequest, snap: Snapshot, pool: list[GpuInfo]) -> list[GpuInfo]:
    """The GPUs the request may use; :class:`UsageError` if it can never be met here."""
    if not pool:
        why = f"{snap.pool_source} leaves none" if snap.pool_source else f"NVML: {snap.nvml}"
        raise UsageError(
            f"devices={req.kind}: this machine has no usable GPU ({why}); use devices=cpu"
        )
    if not snap.gpu_build():
        raise UsageError(
            f"devices={req.kind} needs a CUDA or ROCm build of torch (installed: "
            f"{snap.torch.get('version')}); install one, or use devices=cpu"
        )
    wanted = [_find(pool, i) for i in req.ids] if req.ids else pool
    if req.count > 1 and any(g.mig_parent for g in wanted):
        if req.ids:
            raise UsageError("devices.ids: one MIG slice per job; name one slice")
        wanted = [g for g in wanted if not g.mig_parent]
    if req.count > len(wanted):
        kind = "whole GPUs (MIG slices: one per job)" if any(g.mig_parent for g in pool) else "GPUs"
        raise UsageError(
            f"devices.count={req.count} exceeds the {len(wanted)} usable {kind}; "
            f"set devices.count<={max(1, len(wanted))}"
        )
    return wanted


def _find(pool: list[GpuInfo], ident: str) -> GpuInfo:
    ident = ident.removeprefix("cuda:")
    if ident.isdigit():
        found = [g for g in pool if g.index == int(ident) and g.mig_parent is None]
    else:
        found = [g for g in pool if g.uuid.startswith(ident)]
    if len(found) != 1:
        usable = ", ".join(f"{g.label}={g.uuid}" for g in pool)
        what = "matches no usable GPU" if not found else "matches several GPUs"
        raise UsageError(f"devices.ids: {ident!r} {what}; usable: {usable}")
    return found[0]


def busy_reason(gpu: GpuInfo, req: DeviceRequest, leases: Mapping[str, str]) -> str | None:
    """Why this GPU cannot be given out now, or None."""
    if gpu.uuid in leases:
        return f"{gpu.label} leased by {leases[gpu.uuid]}"
    if gpu.processes:
        users = ", ".join(f"pid {p.pid} {p.name or ''}".rstrip() for p in gpu.processes[:3])
        return f"{gpu.label} busy ({users})"
    if gpu.memory_free_mb < req.min_free_memory_mb:
        return (
            f"{gpu.label} has {gpu.memory_free_mb} MB free < "
            f"devices.min_free_memory_mb={req.min_free_memory_mb}"
        )
    return None


def cpu_allocation(req: DeviceRequest, threads: Threads) -> Allocation:
    processes = max(1, req.processes)
    env = {**threads.env(), "CUDA_VISIBLE_DEVICES": ""}
    ddp = processes > 1 or req.num_nodes > 1
    return Allocation(
        devices=processes,
        strategy="ddp" if ddp else "auto",  # Lightning picks gloo on CPU
        num_nodes=req.num_nodes,
        device_ids=["cpu"] * processes,
        env=env,
        labels=["cpu"] * processes,
        threads=threads.to_dict(),
    )


def gpu_allocation(req: DeviceRequest, chosen: list[GpuInfo], threads: Threads) -> Allocation:
    uuids = [g.uuid for g in chosen]
    env = threads.env()
    if chosen[0].vendor == "amd":
        env["HIP_VISIBLE_DEVICES"] = ",".join(str(g.index) for g in chosen)
    else:  # UUIDs: immune to CUDA's own device order; PCI order makes cuda:N match nvidia-smi
        env.update(CUDA_VISIBLE_DEVICES=",".join(uuids), CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return Allocation(
        accelerator="gpu",
        devices=len(chosen),
        strategy="ddp" if len(chosen) * req.num_nodes > 1 else "auto",
        num_nodes=req.num_nodes,
        device_ids=uuids,
        env=env,
        labels=[g.label for g in chosen],
        threads=threads.to_dict(),
    )
