"""A fake NVML: a machine described in JSON, answering the ``pynvml`` calls trn makes.

It stands in for ``pynvml`` at the one boundary where trn touches NVML (:mod:`trn.devices.nvml`),
so the allocator, leases and ``trn doctor`` run against 8 GPUs on a laptop. Set
``TRN_FAKE_NVML=machine.json`` to make every trn process see that machine
(:mod:`trn.devices.probe` chooses it). A test checks that every
``nvml*`` method here exists in the real ``pynvml`` with the same arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

MB = 1024 * 1024


class FakeNvmlError(Exception):
    pass


def machine(
    n: int = 8,
    *,
    name: str = "NVIDIA H100 80GB HBM3",
    memory_mb: int = 81559,
    nvlink_pairs: bool = False,
    sockets: int = 2,
) -> dict[str, Any]:
    """A machine spec: ``n`` idle GPUs split over ``sockets``, optionally NVLinked in pairs."""
    gpus = [
        {"name": name, "uuid": f"GPU-{i:08x}-fake-4000-8000-{i:012x}", "memory_mb": memory_mb}
        for i in range(n)
    ]
    pairs = [[i, i + 1] for i in range(0, n - 1, 2)] if nvlink_pairs else []
    return {"driver": "550.54.15", "cuda": 12040, "gpus": gpus, "nvlink": pairs, "sockets": sockets}


class FakeNvml:
    """The subset of the ``pynvml`` module that :mod:`trn.devices.nvml` uses."""

    NVML_P2P_CAPS_INDEX_NVLINK = 2

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.gpus = spec.get("gpus", [])
        self.live = False

    @classmethod
    def from_file(cls, path: str | Path) -> FakeNvml:
        return cls(json.loads(Path(path).read_text()))

    def _check(self) -> None:
        if not self.live:
            raise FakeNvmlError("Uninitialized")

    def _gpu(self, handle: Any) -> dict[str, Any]:
        self._check()
        return handle

    # -- library ----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        if self.spec.get("error"):
            raise FakeNvmlError(self.spec["error"])
        self.live = True

    def nvmlShutdown(self) -> None:
        self.live = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.spec.get("driver", "550.54.15")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return int(self.spec.get("cuda", 12040))

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        for gpu in self.gpus:
            for p in gpu.get("processes", []):
                if p["pid"] == pid:
                    return p.get("name", "python")
        raise FakeNvmlError("Not Found")

    # -- devices ----------------------------------------------------------------------------
    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        self._check()
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._gpu(handle).get("name", "NVIDIA GPU")

    def nvmlDeviceGetUUID(self, handle: Any) -> bytes:
        return self._gpu(handle)["uuid"].encode()  # the real one returns bytes too

    def nvmlDeviceGetPciInfo(self, handle: Any) -> SimpleNamespace:
        index = self._index(handle)
        return SimpleNamespace(busId=f"00000000:{0x18 + index * 0x10:02X}:00.0".encode())

    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: Any = None) -> SimpleNamespace:
        gpu = self._gpu(handle)
        total = gpu.get("memory_mb", 81559) * MB
        used = (gpu.get("used_mb", 0) + sum(p.get("used_mb", 0) for p in _procs(gpu))) * MB
        return SimpleNamespace(total=total, free=max(0, total - used), used=used)

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._gpu(handle).get("util", 0), memory=0)

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]:
        return tuple(self._gpu(handle).get("cc", [9, 0]))  # type: ignore[return-value]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(pid=p["pid"], usedGpuMemory=p.get("used_mb", 0) * MB)
            for p in _procs(self._gpu(handle))
        ]

    # -- MIG --------------------------------------------------------------------------------
    def nvmlDeviceGetMigMode(self, device: Any) -> list[int]:
        on = 1 if self._gpu(device).get("mig") else 0
        return [on, on]

    def nvmlDeviceGetMaxMigDeviceCount(self, device: Any) -> int:
        return len(self._gpu(device).get("mig") or [])

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: Any, index: int) -> dict[str, Any]:
        return self._gpu(device)["mig"][index]

    # -- topology ---------------------------------------------------------------------------
    def nvmlDeviceGetP2PStatus(self, device1: Any, device2: Any, p2pIndex: int) -> int:
        pair = sorted([self._index(device1), self._index(device2)])
        linked = p2pIndex == self.NVML_P2P_CAPS_INDEX_NVLINK and pair in self.spec.get("nvlink", [])
        return 0 if linked else 4  # NVML_P2P_STATUS_OK / _NOT_SUPPORTED

    def nvmlDeviceGetTopologyCommonAncestor(self, device1: Any, device2: Any) -> int:
        per_socket = max(1, -(-len(self.gpus) // max(1, self.spec.get("sockets", 1))))
        a, b = self._index(device1) // per_socket, self._index(device2) // per_socket
        return 40 if a == b else 50  # NVML_TOPOLOGY_NODE / _SYSTEM

    def _index(self, handle: Any) -> int:
        self._check()
        return next(i for i, g in enumerate(self.gpus) if g is handle)


def _procs(gpu: dict[str, Any]) -> list[dict[str, Any]]:
    return list(gpu.get("processes") or [])


def snapshot(spec: dict[str, Any], env: dict[str, str] | None = None, cuda: str | None = "12.4"):  # type: ignore[no-untyped-def]
    """The :class:`Snapshot` trn takes of ``spec``, as seen by a torch built for CUDA ``cuda``."""
    from trn.devices.nvml import read_snapshot

    snap = read_snapshot(FakeNvml(spec), env=env or {})
    snap.torch = {**snap.torch, "cuda": cuda}
    return snap
