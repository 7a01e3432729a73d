"""The slots a sweep packs jobs onto: GPUs of the device pool, or equal shares of the CPUs.

A job takes ``need`` slots and runs with their devices in its environment from the start
(``CUDA_VISIBLE_DEVICES`` or a CPU affinity and thread budget). GPUs are guarded by the file
leases of :mod:`trn.devices.leases`, so a sweep never starts a job on a GPU another trn process
holds; a trn job's own supervisor leases the GPUs it is handed, any other task's GPUs are leased
by the launcher for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trn.devices.host import affinity
from trn.devices.threads import choose, explicit

CPU_SLOTS_MAX = 8  # default cap on CPU jobs at once: memory, not cores, runs out first


@dataclass(frozen=True)
class Slot:
    index: int
    gpu: str | None = None  # the GPU's UUID; None for a CPU slot
    cpus: tuple[int, ...] = ()  # the CPUs of a CPU slot


@dataclass
class Assignment:
    """The slots one job runs on, and the environment that confines it to them."""

    slots: list[Slot]
    threads_per_slot: int = 1

    @property
    def gpus(self) -> list[str]:
        return [s.gpu for s in self.slots if s.gpu]

    @property
    def cpus(self) -> list[int]:
        return sorted({c for s in self.slots for c in s.cpus})

    def env(self, user_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The job's devices and, unless ``user_env`` sets them, its thread count."""
        env: dict[str, str] = {}
        user = os.environ if user_env is None else user_env
        if not explicit(user):
            count = max(1, self.threads_per_slot * len(self.slots))
            env.update(choose(None, user, count, "its slot's CPUs").env())
        if self.gpus:
            env.update(CUDA_VISIBLE_DEVICES=",".join(self.gpus), CUDA_DEVICE_ORDER="PCI_BUS_ID")
        else:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job never touches a GPU
        return env


def cpu_slots(
    count: int | None, cpus: list[int] | None = None, jobs: int | None = None
) -> list[Slot]:
    """``count`` slots splitting ``cpus`` evenly (more slots than CPUs share them round-robin).
    Without a ``count``, one per CPU up to :data:`CPU_SLOTS_MAX`, and no more than ``jobs``: a
    sweep of one job gets every CPU, as a single ``trn run`` does."""
    cpus = cpus or affinity()
    n = count or min(len(cpus), CPU_SLOTS_MAX, jobs or CPU_SLOTS_MAX)
    if n <= len(cpus):
        per = len(cpus) // n
        return [Slot(i, cpus=tuple(cpus[i * per : (i + 1) * per])) for i in range(n)]
    return [Slot(i, cpus=(cpus[i % len(cpus)],)) for i in range(n)]


def gpu_slots(uuids: list[str]) -> list[Slot]:
    return [Slot(i, gpu=u) for i, u in enumerate(uuids)]


def pool_gpus() -> list[str]:
    """The UUIDs of the GPUs this process may use (NVML, the fake machine, the inherited pool)."""
    from trn.devices.probe import take_snapshot

    return [g.uuid for g in take_snapshot().usable()]


@dataclass
class Pool:
    """The slots plus how they are guarded against other processes."""

    slots: list[Slot]
    home: Path | None = None  # $TRN_HOME of the GPU leases (None: no leases, e.g. CPU)
    hold_leases: bool = True  # False: the job's own supervisor leases its GPUs
    threads_per_slot: int = 1
    _held: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "gpu" if self.slots and self.slots[0].gpu else "cpu"

    def take(self, chosen: list[Slot]) -> bool:
        """Check (and, when holding, lease) the GPUs of ``chosen``; False if another holds one."""
        uuids = [s.gpu for s in chosen if s.gpu]
        if not uuids or self.home is None:
            return True
        from trn.devices.leases import LeaseStore

        store = LeaseStore(self.home)
        with store.locked():
            if set(uuids) & set(store.holders()):
                return False
            if self.hold_leases:
                lease = store.take(uuids, None)
                for u in uuids:
                    self._held[u] = lease
        return True

    def give_back(self, chosen: list[Slot]) -> None:
        uuids = [s.gpu for s in chosen if s.gpu and s.gpu in self._held]
        if uuids:
            self._held[uuids[0]].store.release(uuids)
            for u in uuids:
                self._held.pop(u, None)

    def assignment(self, chosen: list[Slot]) -> Assignment:
        return Assignment(chosen, self.threads_per_slot)


def build_pool(
    devices: str,
    cpu_count: int | None,
    home: Path | None,
    hold_leases: bool,
    jobs: int | None = None,
) -> Pool:
    """GPU slots when ``devices`` is gpu (or auto and the pool has GPUs), else CPU slots (for
    ``jobs`` jobs at most, :func:`cpu_slots`)."""
    gpus = pool_gpus() if devices in ("auto", "gpu") else []
    if devices == "gpu" and not gpus:
        from trn.errors import UsageError

        raise UsageError(
            "hydra.launcher.devices=gpu but this machine has no usable GPU; "
            "use hydra.launcher.devices=cpu (see `trn doctor`)"
        )
    cpus = affinity()
    if gpus:
        per = max(1, len(cpus) // len(gpus))
        return Pool(gpu_slots(gpus), home, hold_leases, threads_per_slot=per)
    slots = cpu_slots(cpu_count, cpus, jobs)
    return Pool(slots, None, hold_leases, threads_per_slot=len(slots[0].cpus))


def slots_needed(devices: Any, pool: Pool, gpus_per_job: int = 1) -> int:
    """GPU slots: ``devices.count`` (one machine: never x ``num_nodes``); CPU: ``processes``."""
    if pool.kind == "gpu":
        if devices is not None and devices.get("kind") == "cpu":
            return 1
        count = devices.get("count") if devices is not None else None
        return max(1, int(count or gpus_per_job))
    processes = devices.get("processes") if devices is not None else None
    return max(1, min(int(processes or 1), len(pool.slots)))
