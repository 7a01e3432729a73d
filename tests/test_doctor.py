"""`trn doctor`: the real report on this machine, fake GPU machines, exit codes, no torch import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trn.devices.doctor import check
from trn.devices.doctor_render import render
from trn.devices.fake import machine, snapshot
from trn.devices.leases import LeaseStore


def test_doctor_on_this_machine(cli, trn_home):
    code, out, err = cli("doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["reason"] is None
    assert report["torch"]["version"] and report["torch"]["backends"]["gloo"] is True
    assert report["cpus"]["usable"] >= 1 and report["disk"]["free_gb"] > 0
    assert report["request"]["kind"] == "auto"
    if not report["gpus"]:
        assert report["allocation"]["accelerator"] == "cpu"
    assert report["warm"]["state"] == "down"  # a fresh home: the next trn run starts its parent


def test_doctor_says_whether_jobs_start_warm(cli, trn_home, monkeypatch):
    monkeypatch.setenv("TRN_WARM", "0")
    report = json.loads(cli("doctor", "--json")[1])
    assert report["ok"] and report["warm"]["state"] == "off"
    monkeypatch.delenv("TRN_WARM")
    assert cli("warm", "start")[0] == 0
    try:
        report = json.loads(cli("doctor", "--json")[1])
        assert report["warm"]["state"] == "up" and report["warm"]["runners"] == []
    finally:
        cli("warm", "stop")


def test_doctor_human_page(cli, trn_home):
    code, out, _ = cli("doctor", "devices=cpu", "devices.processes=2")
    assert code == 0
    headings = ("torch", "backends", "NVML", "driver", "CPUs", "disk", "request", "result", "warm")
    for heading in headings:
        assert any(line.startswith(heading) for line in out.splitlines()), heading
    assert "ready: cpu, cpu (accelerator=cpu, devices=2, strategy=ddp" in out


def test_doctor_exits_1_with_the_reason_when_the_request_cannot_be_met(cli, trn_home, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code, out, _ = cli("doctor", "--devices", "cuda:0,cuda:1")
    assert code == 1
    assert "NOT READY: devices=gpu: this machine has no usable GPU" in out
    assert "use devices=cpu" in out


def test_doctor_bad_devices_flag_is_a_usage_error(cli, trn_home):
    code, out, err = cli("doctor", "--devices", "tpu:0")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "--devices 'tpu:0' is not understood" in err


def test_doctor_sees_a_fake_eight_gpu_machine(cli, trn_home, tmp_path, monkeypatch):
    spec = machine(8, nvlink_pairs=True)
    spec["gpus"][5]["processes"] = [{"pid": 31337, "used_mb": 4096, "name": "jupyter"}]
    (tmp_path / "m.json").write_text(json.dumps(spec))
    monkeypatch.setenv("TRN_FAKE_NVML", str(tmp_path / "m.json"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code, out, _ = cli("doctor", "--json", "devices=gpu")
    report = json.loads(out)
    assert len(report["gpus"]) == 8 and report["nvml"]["driver_version"] == "550.54.15"
    assert report["gpus"][5]["users"] == [{"pid": 31337, "name": "jupyter", "used_memory_mb": 4096}]
    assert list(report["topology"].values()).count("NVLINK") == 4
    if report["torch"]["build"] == "cpu":  # this machine's torch cannot drive them
        assert code == 1 and "needs a CUDA or ROCm build of torch" in report["reason"]
        assert any("is a CPU build" in w for w in report["warnings"])


def test_report_of_a_busy_gpu_machine_names_users_leases_and_the_choice(trn_home):
    spec = machine(4, nvlink_pairs=True)
    spec["gpus"][1]["processes"] = [{"pid": 31337, "used_mb": 4096, "name": "jupyter"}]
    snap = snapshot(spec)
    store = LeaseStore(trn_home)
    with store.locked():
        store.take([spec["gpus"][0]["uuid"]], "261128-1200-abcd")
    report = check({"kind": "gpu", "count": 2}, trn_home, snap)
    assert report["ok"] and report["allocation"]["labels"] == ["cuda:2", "cuda:3"]
    assert report["gpus"][0]["lease"].startswith("job 261128-1200-abcd (pid ")
    page = render(report)
    assert "pid 31337 jupyter" in page and "job 261128-1200-abcd" in page
    assert "ready: cuda:2, cuda:3 (accelerator=gpu, devices=2, strategy=ddp" in page
    assert "NV=NVLink" in page

    report = check({"kind": "gpu", "count": 3}, trn_home, snap)
    assert not report["ok"] and "cuda:1 busy (pid 31337 jupyter)" in report["reason"]
    assert report["reason"].endswith("(a job would wait: devices.wait=true)")


@pytest.mark.parametrize(("driver_cuda", "warned"), [(12020, True), (12040, False)])
def test_doctor_warns_when_the_driver_is_older_than_torchs_cuda(
    trn_home, monkeypatch, driver_cuda, warned
):
    import trn.devices.doctor as doctor

    spec = {**machine(2), "cuda": driver_cuda}
    monkeypatch.setattr(
        doctor,
        "torch_report",
        lambda: {"version": "2.4.0", "build": "cuda 12.4", "backends": {"nccl": True}},
    )
    report = check({"kind": "gpu"}, trn_home, snapshot(spec))
    assert any("older than torch's cuda 12.4" in w for w in report["warnings"]) is warned


def test_cli_and_devices_import_without_torch():
    code = (
        "import sys; from trn.cli.main import build_parser; build_parser(); "
        "import trn.devices.doctor, trn.devices.doctor_render, trn.devices.manager, trn.lifecycle.planning; "
        "from trn.devices.probe import take_snapshot; take_snapshot(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
