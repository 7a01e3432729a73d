"""Devices for a job: turn the ``devices`` config group into an :class:`Allocation`.

Minimal first version (CPU only, ``auto`` falls back to CPU); the device-manager issue replaces
the inside of :func:`allocate` with NVML snapshots and leases, keeping this interface.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from trn.errors import UsageError


@dataclass
class Allocation:
    """What a job runs on: the Trainer's arguments plus the runner's environment."""

    accelerator: str = "cpu"
    devices: int | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = 1
    device_ids: list[str] = field(default_factory=lambda: ["cpu"])  # e.g. ["cuda:0"] or UUIDs
    env: dict[str, str] = field(default_factory=dict)

    def trainer_kwargs(self) -> dict[str, Any]:
        return {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "strategy": self.strategy,
            "num_nodes": self.num_nodes,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def allocate(request: dict[str, Any]) -> Allocation:
    kind = request.get("kind", "auto")
    if kind not in ("auto", "cpu"):
        raise UsageError(f"devices={kind} is not available on this machine; use devices=cpu")
    processes = int(request.get("processes") or 1)
    threads = max(1, usable_cpus() // processes)
    env = {"OMP_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
    if processes > 1:
        return Allocation(
            devices=processes, strategy="ddp", device_ids=["cpu"] * processes, env=env
        )
    return Allocation(env=env)
