"""Reading NVML into a snapshot (through the fake), the inherited pool, and usable CPUs."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pynvml
import pytest

from trn.devices import host
from trn.devices.fake import FakeNvml, machine
from trn.devices.nvml import read_snapshot
from trn.devices.probe import take_snapshot


def test_fake_speaks_the_real_pynvml_api():
    """Every NVML call the fake answers exists in nvidia-ml-py with the same parameters."""
    names = [n for n in dir(FakeNvml) if n.startswith("nvml")]
    assert len(names) >= 18
    for name in names:
        real = inspect.signature(getattr(pynvml, name)).parameters
        fake = list(inspect.signature(getattr(FakeNvml, name)).parameters)[1:]  # minus self
        assert fake == list(real), name
    assert FakeNvml.NVML_P2P_CAPS_INDEX_NVLINK == pynvml.NVML_P2P_CAPS_INDEX_NVLINK


def test_eight_gpus_in_nvlink_pairs():
    snap = read_snapshot(FakeNvml(machine(8, nvlink_pairs=True)), env={})
    assert snap.nvml == "ok" and snap.driver_version == "550.54.15"
    assert snap.cuda_driver_version == "12.4"
    assert [g.label for g in snap.gpus] == [f"cuda:{i}" for i in range(8)]
    g = snap.gpus[3]
    assert g.uuid.startswith("GPU-00000003") and g.name == "NVIDIA H100 80GB HBM3"
    assert (g.memory_total_mb, g.memory_free_mb, g.compute_capability) == (81559, 81559, "9.0")
    assert g.pci_bus_id == "00000000:48:00.0"
    u = [x.uuid for x in snap.gpus]
    assert snap.link(u[0], u[1]) == "NVLINK" and snap.link(u[1], u[0]) == "NVLINK"
    assert snap.link(u[1], u[2]) == "NODE" and snap.link(u[0], u[7]) == "SYS"
    assert len(snap.links) == 28


def test_processes_and_memory_of_other_programs():
    spec = machine(1, memory_mb=16000)
    spec["gpus"][0].update(
        util=87, processes=[{"pid": 4242, "used_mb": 6000, "name": "/usr/bin/python3"}]
    )
    g = read_snapshot(FakeNvml(spec), env={}).gpus[0]
    assert g.memory_free_mb == 10000 and g.utilization_pct == 87
    assert [(p.pid, p.used_memory_mb, p.name) for p in g.processes] == [(4242, 6000, "python3")]


def test_mig_gpu_becomes_its_slices():
    spec = machine(2)
    spec["gpus"][1]["mig"] = [
        {"uuid": "MIG-1", "memory_mb": 20480},
        {"uuid": "MIG-2", "memory_mb": 20480},
    ]
    snap = read_snapshot(FakeNvml(spec), env={})
    assert [g.label for g in snap.gpus] == ["cuda:0", "cuda:1/mig0", "cuda:1/mig1"]
    assert snap.gpus[1].mig_parent == spec["gpus"][1]["uuid"]
    assert snap.gpus[1].name.endswith("MIG 20GB")


@pytest.mark.parametrize("error", ["NVML Shared Library Not Found", "Driver Not Loaded"])
def test_no_library_or_driver_means_no_gpus(error):
    snap = read_snapshot(FakeNvml({"error": error}), env={})
    assert snap.gpus == [] and snap.nvml == f"unavailable: {error}"


def test_real_nvml_on_this_machine_never_raises():
    snap = take_snapshot(env={})
    assert snap.nvml == "ok" or snap.gpus == []


@pytest.mark.parametrize(
    ("env", "pool"),
    [
        ({"CUDA_VISIBLE_DEVICES": "2,0"}, [2, 0]),
        ({"CUDA_VISIBLE_DEVICES": "GPU-00000003"}, [3]),
        ({"CUDA_VISIBLE_DEVICES": "1,7,2"}, [1]),  # like CUDA: stops at the first unknown
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"SLURM_JOB_GPUS": "0,1"}, [0, 1]),
        ({"SLURM_STEP_GPUS": "3", "SLURM_JOB_GPUS": "0,1,2,3"}, [3]),
        ({"CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_GPUS": "0"}, [1]),
    ],
)
def test_inherited_pool(env, pool):
    spec = machine(4)
    snap = read_snapshot(FakeNvml(spec), env=env)
    assert snap.pool == [spec["gpus"][i]["uuid"] for i in pool]
    assert [g.index for g in snap.usable()] == pool
    assert snap.pool_source.split("=")[0] in env


def test_no_inherited_pool_means_every_gpu():
    snap = read_snapshot(FakeNvml(machine(3)), env={})
    assert snap.pool is None and len(snap.usable()) == 3


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 2),
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "400000", "cpu/cpu.cfs_period_us": "100000"}, 4),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_cgroup_quota(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert host.cgroup_quota(tmp_path) == quota


def test_usable_cpus_is_the_affinity_capped_by_the_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert host.cpu_limit(tmp_path)[0] == 1
    assert host.usable_cpus(tmp_path / "none") == len(__import__("os").sched_getaffinity(0))


def test_torch_build_is_read_without_importing_torch():
    code = (
        "import sys; from trn.devices.host import torch_build; b = torch_build(); "
        "assert 'torch' not in sys.modules; print(b['version'], b['cuda'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import torch

    assert out.stdout.split() == [torch.__version__, str(torch.version.cuda)]
