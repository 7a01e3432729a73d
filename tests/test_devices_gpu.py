"""On a real NVIDIA machine (``pytest -m gpu``; scripts/gpu-check.sh runs these): real NVML, and
the environment an allocation gives the runner really shows CUDA exactly the leased GPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trn.devices import allocate
from trn.devices.probe import take_snapshot

SNAP = take_snapshot()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not SNAP.usable() or not SNAP.gpu_build(),
        reason=f"needs an NVIDIA GPU and a CUDA build of torch (NVML: {SNAP.nvml}; "
        f"torch cuda: {SNAP.torch.get('cuda')})",
    ),
]


def test_real_nvml_snapshot():
    assert SNAP.nvml == "ok" and SNAP.driver_version and SNAP.cuda_driver_version
    for gpu in SNAP.gpus:
        assert gpu.uuid.startswith(("GPU-", "MIG-")) and gpu.memory_total_mb > 0
        assert gpu.name and gpu.pci_bus_id and gpu.compute_capability


def test_the_allocated_env_shows_cuda_exactly_that_gpu():
    alloc = allocate({"kind": "gpu"}, SNAP, strict=False)
    code = (
        "import torch; print(torch.cuda.device_count(), torch.cuda.get_device_properties(0).uuid)"
    )
    env = {**os.environ, **alloc.env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    count, uuid = out.stdout.split()
    assert count == "1"
    assert alloc.device_ids[0].endswith(uuid)  # torch prints the UUID without "GPU-"
