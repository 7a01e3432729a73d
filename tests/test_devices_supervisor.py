"""The supervisor's lease: taken right before the runner starts, waited for, released at the end.

The machine is a fake one-GPU NVML machine (``TRN_FAKE_NVML``) and torch is reported as a CUDA
build, so the plan asks for that GPU; this machine's CPU torch then fails the runner, which is
fine: the lease's life is what is under test.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
from conftest import FAST, read_events

from trn.devices import host
from trn.devices.fake import machine
from trn.devices.leases import HOST, LeaseStore
from trn.events.schema import validate_event
from trn.lifecycle.planning import make_plan
from trn.lifecycle.supervisor import Supervisor
from trn.proc import start_time

GPU = machine(1)["gpus"][0]["uuid"]
GPU_FAST = [*FAST, "devices=gpu"]


@pytest.fixture
def one_gpu(trn_home, tmp_path, monkeypatch):
    (tmp_path / "machine.json").write_text(json.dumps(machine(1)))
    monkeypatch.setenv("TRN_FAKE_NVML", str(tmp_path / "machine.json"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(
        host, "torch_build", lambda: {"version": "2.4.0", "cuda": "12.4", "hip": None}
    )
    return trn_home


def hold_elsewhere(home, uuid: str, job_id: str) -> None:
    """A lease held by another live process on this host (our parent)."""
    store = LeaseStore(home)
    store.dir.mkdir(parents=True, exist_ok=True)
    ppid = os.getppid()
    lease = {
        "uuid": uuid,
        "pid": ppid,
        "pid_start": start_time(ppid),
        "host": HOST,
        "job_id": job_id,
    }
    store.path(uuid).write_text(json.dumps(lease))


def test_a_job_waits_submitted_for_a_leased_gpu_then_gives_up(one_gpu):
    hold_elsewhere(one_gpu, GPU, "other-job")
    plan = make_plan([*GPU_FAST, "devices.wait_timeout_s=0.5"])
    assert plan.allocation.device_ids == [GPU]  # the preview ignores leases
    seen, states_while_waiting = [], []

    def echo(event: dict) -> None:
        seen.append(event)
        if event["event"] == "devices_waiting":
            states_while_waiting.append(
                json.loads(open(record.job_dir + "/job.json").read())["state"]
            )

    sup = Supervisor.create(plan, echo=echo)
    record = sup.record
    result = sup.run()
    names = [e["event"] for e in seen]
    assert names == ["job_submitted", "devices_waiting", "job_failed"]
    waiting = seen[1]
    assert waiting["waiting_for"] == [f"cuda:0 leased by job other-job (pid {os.getppid()})"]
    assert states_while_waiting == ["submitted"]
    assert waiting["request"]["kind"] == "gpu" and waiting["waited_s"] >= 0
    assert result["state"] == "failed" and result["started_at"] is None
    assert "gave up after" in result["error"] and "leased by job other-job" in result["error"]
    for event in read_events(record.job_dir + "/events.jsonl"):
        validate_event(event)
    assert LeaseStore(one_gpu).read()[GPU]["job_id"] == "other-job"  # not ours to touch


def test_no_wait_fails_at_plan_time_with_the_fix(one_gpu):
    from trn.errors import UsageError

    hold_elsewhere(one_gpu, GPU, "other-job")
    with pytest.raises(UsageError, match=r"1 GPU\(s\) wanted, 0 free now .* devices.wait=true"):
        make_plan([*GPU_FAST, "devices.wait=false"])


@pytest.mark.slow
def test_the_lease_is_held_while_the_runner_lives_and_released_after(one_gpu):
    plan = make_plan(GPU_FAST)
    sup = Supervisor.create(plan)
    record = sup.record
    held, done = set(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            held.update(
                f"{u}:{lease['job_id']}" for u, lease in LeaseStore(one_gpu).read(False).items()
            )
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = sup.run()
    finally:
        done.set()
        watcher.join()
    assert held == {f"{GPU}:{record.job_id}"}
    assert LeaseStore(one_gpu).read() == {}
    assert result["devices"] == [GPU]
    launch = json.loads(open(record.job_dir + "/launch.json").read())
    assert launch["allocation"]["env"]["CUDA_VISIBLE_DEVICES"] == GPU
    assert launch["allocation"]["trainer"]["accelerator"] == "gpu"
    assert result["state"] == "failed"  # this machine's torch has no CUDA: the runner says so
