"""The allocator against fake NVML machines: topology, busy GPUs, MIG, pools, bad requests."""

from __future__ import annotations

import pytest

from trn.devices import Allocation, DeviceRequest, Unavailable, allocate, parse_devices_flag
from trn.devices.fake import machine, snapshot
from trn.errors import UsageError


def labels(alloc: Allocation) -> list[str]:
    return alloc.labels


def uuid(i: int) -> str:
    return machine(8)["gpus"][i]["uuid"]


@pytest.fixture
def pairs8():
    """8 GPUs, NVLinked in pairs (0-1, 2-3, …), 4 per socket."""
    return snapshot(machine(8, nvlink_pairs=True))


def test_cpu_default_is_todays_allocation():
    snap = snapshot(machine(0))
    alloc = allocate({"kind": "cpu", "count": 1, "processes": 1}, snap)
    assert alloc.trainer_kwargs() == {
        "accelerator": "cpu",
        "devices": 1,
        "strategy": "auto",
        "num_nodes": 1,
    }
    assert alloc.device_ids == ["cpu"]
    n = str(snap.cpus)  # every usable CPU: no other job holds any, the user set no count
    assert alloc.env == {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "TRN_THREADS": n,
        "GOMP_SPINCOUNT": "10000",  # idle threads spin briefly, then sleep: cores stay free
        "CUDA_VISIBLE_DEVICES": "",
    }
    assert alloc.threads == {"count": snap.cpus, "source": "cores", "why": alloc.threads["why"]}
    assert alloc.gpus == []


def test_cpu_processes_run_ddp_and_split_threads():
    snap = snapshot(machine(0))
    snap.cpus = 8
    alloc = allocate({"kind": "cpu", "processes": 4}, snap)
    assert (alloc.devices, alloc.strategy, alloc.device_ids) == (4, "ddp", ["cpu"] * 4)
    assert alloc.env["OMP_NUM_THREADS"] == "2"


def test_auto_is_cpu_without_gpus_or_without_a_gpu_build_of_torch():
    assert allocate({"kind": "auto"}, snapshot(machine(0))).accelerator == "cpu"
    assert allocate({"kind": "auto"}, snapshot(machine(2), cuda=None)).accelerator == "cpu"
    assert allocate({"kind": "auto"}, snapshot(machine(2))).accelerator == "gpu"


def test_one_gpu_is_a_single_device_job_with_its_uuid_in_the_env(pairs8):
    alloc = allocate({"kind": "gpu"}, pairs8)
    assert alloc.trainer_kwargs() == {
        "accelerator": "gpu",
        "devices": 1,
        "strategy": "auto",
        "num_nodes": 1,
    }
    assert alloc.device_ids == [uuid(0)]
    assert alloc.env["CUDA_VISIBLE_DEVICES"] == uuid(0)
    assert alloc.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_two_gpus_get_an_nvlink_pair_and_ddp(pairs8):
    alloc = allocate({"kind": "gpu", "count": 2}, pairs8, {uuid(0): "job a"})
    assert labels(alloc) == ["cuda:2", "cuda:3"]  # not 1+2: 1's partner is taken, 1-2 is PCIe
    assert alloc.strategy == "ddp" and alloc.devices == 2
    assert alloc.env["CUDA_VISIBLE_DEVICES"] == f"{uuid(2)},{uuid(3)}"


def test_one_gpu_takes_the_partner_of_a_leased_gpu_to_keep_pairs_whole(pairs8):
    alloc = allocate({"kind": "gpu"}, pairs8, {uuid(0): "job a"})
    assert labels(alloc) == ["cuda:1"]


def test_four_gpus_stay_on_one_socket(pairs8):
    alloc = allocate({"kind": "gpu", "count": 4}, pairs8, {uuid(0): "job a"})
    assert labels(alloc) == ["cuda:4", "cuda:5", "cuda:6", "cuda:7"]


def test_busy_gpus_of_other_programs_are_skipped():
    spec = machine(2)
    spec["gpus"][0]["processes"] = [{"pid": 999, "used_mb": 2000, "name": "python"}]
    alloc = allocate({"kind": "gpu"}, snapshot(spec))
    assert labels(alloc) == ["cuda:1"]
    with pytest.raises(Unavailable, match=r"cuda:0 busy \(pid 999 python\)"):
        allocate({"kind": "gpu", "count": 2}, snapshot(spec))


def test_min_free_memory_counts_a_full_gpu_as_busy():
    spec = machine(2, memory_mb=16000)
    spec["gpus"][0]["used_mb"] = 12000
    req = {"kind": "gpu", "min_free_memory_mb": 8000}
    assert labels(allocate(req, snapshot(spec))) == ["cuda:1"]


def test_unavailable_names_every_reason_and_the_fix(pairs8):
    leases = {uuid(i): f"job j{i} (pid 1)" for i in range(7)}
    with pytest.raises(Unavailable) as err:
        allocate({"kind": "gpu", "count": 2}, pairs8, leases)
    assert "cuda:0 leased by job j0 (pid 1)" in str(err.value)
    assert len(err.value.reasons) == 7
    assert "devices.wait=true" in str(err.value) and err.value.code == 2


def test_mig_slices_are_one_per_job():
    spec = machine(1)
    spec["gpus"][0]["mig"] = [
        {"uuid": "MIG-a", "memory_mb": 10000},
        {"uuid": "MIG-b", "memory_mb": 10000},
    ]
    snap = snapshot(spec)
    assert [g.uuid for g in snap.gpus] == ["MIG-a", "MIG-b"]
    alloc = allocate({"kind": "gpu"}, snap, {"MIG-a": "job x"})
    assert alloc.device_ids == ["MIG-b"] and alloc.env["CUDA_VISIBLE_DEVICES"] == "MIG-b"
    with pytest.raises(UsageError, match=r"devices.count=2 exceeds the 0 usable whole GPUs"):
        allocate({"kind": "gpu", "count": 2}, snap)


def test_explicit_ids_indices_uuids_and_prefixes(pairs8):
    assert labels(allocate({"kind": "gpu", "ids": [3, 5]}, pairs8)) == ["cuda:3", "cuda:5"]
    alloc = allocate({"kind": "gpu", "ids": [uuid(6)[:12]]}, pairs8)
    assert alloc.device_ids == [uuid(6)]
    with pytest.raises(Unavailable, match="cuda:3 leased by job z"):
        allocate({"kind": "gpu", "ids": [3]}, pairs8, {uuid(3): "job z"})


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"kind": "gpu", "ids": [9]}, r"devices.ids: '9' matches no usable GPU; usable: cuda:0="),
        ({"kind": "gpu", "ids": ["GPU-nope"]}, "'GPU-nope' matches no usable GPU"),
        (
            {"kind": "gpu", "count": 9},
            r"devices.count=9 exceeds the 8 usable GPUs; set devices.count<=8",
        ),
        ({"kind": "tpu"}, r"devices=tpu is not a devices option"),
    ],
)
def test_bad_requests_name_the_override_that_fixes_them(pairs8, request_, message):
    with pytest.raises(UsageError, match=message):
        allocate(request_, pairs8)


def test_gpu_request_without_gpus_or_gpu_torch_says_use_cpu():
    with pytest.raises(
        UsageError, match=r"no usable GPU \(NVML: unavailable: .*\); use devices=cpu"
    ):
        allocate({"kind": "gpu"}, snapshot({"error": "NVML Shared Library Not Found"}))
    with pytest.raises(UsageError, match=r"needs a CUDA or ROCm build of torch.*use devices=cpu"):
        allocate({"kind": "gpu"}, snapshot(machine(1), cuda=None))


def test_inherited_cuda_visible_devices_bounds_the_pool():
    spec = machine(8, nvlink_pairs=True)
    snap = snapshot(spec, env={"CUDA_VISIBLE_DEVICES": "5,6"})
    assert labels(allocate({"kind": "gpu", "count": 2}, snap)) == ["cuda:5", "cuda:6"]
    with pytest.raises(UsageError, match=r"exceeds the 2 usable GPUs"):
        allocate({"kind": "gpu", "count": 3}, snap)
    hidden = snapshot(spec, env={"CUDA_VISIBLE_DEVICES": ""})
    with pytest.raises(UsageError, match=r"CUDA_VISIBLE_DEVICES= leaves none"):
        allocate({"kind": "gpu"}, hidden)
    assert allocate({"kind": "auto"}, hidden).accelerator == "cpu"


def test_strict_false_previews_an_idle_machine(pairs8):
    leases = {uuid(i): "job" for i in range(8)}
    assert labels(allocate({"kind": "gpu"}, pairs8, leases, strict=False)) == ["cuda:0"]


def test_multi_node_sets_num_nodes_and_ddp(pairs8):
    alloc = allocate({"kind": "gpu", "num_nodes": 2}, pairs8)
    assert (alloc.num_nodes, alloc.strategy, alloc.devices) == (2, "ddp", 1)


def test_request_defaults_and_ids_win_over_count():
    req = DeviceRequest.from_config({"kind": "gpu", "count": 1, "ids": [0, "GPU-x"]})
    assert req.count == 2 and req.ids == ("0", "GPU-x") and req.wait is True
    assert DeviceRequest.from_config({}).kind == "auto"


@pytest.mark.parametrize(
    ("flag", "overrides"),
    [
        ("cpu", ["devices=cpu"]),
        ("auto", ["devices=auto"]),
        ("cuda", ["devices=gpu"]),
        ("cuda:0,cuda:1", ["devices=gpu", "devices.ids=[0,1]"]),
        ("2", ["devices=gpu", "devices.ids=[2]"]),
        ("GPU-8d2c-11,cuda:3", ["devices=gpu", "devices.ids=['GPU-8d2c-11',3]"]),
    ],
)
def test_parse_devices_flag(flag, overrides):
    assert parse_devices_flag(flag) == overrides


@pytest.mark.parametrize("flag", ["", "tpu", "cuda:x", "cuda:0;rm"])
def test_parse_devices_flag_rejects_nonsense(flag):
    with pytest.raises(UsageError, match="--devices .* is not understood"):
        parse_devices_flag(flag)


def test_devices_flag_overrides_compose_into_a_valid_config():
    from trn.config.validate import load

    devices = load(parse_devices_flag("cuda:0,GPU-8d2c-11"))["devices"]
    assert devices["kind"] == "gpu" and devices["ids"] == [0, "GPU-8d2c-11"]
    assert load(parse_devices_flag("cpu"))["devices"]["kind"] == "cpu"
