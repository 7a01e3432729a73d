"""Leases between real processes: never the same GPU twice, dead holders' GPUs come back."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PATIENCE

from trn.devices.fake import machine, snapshot
from trn.devices.leases import LeaseStore
from trn.devices.manager import DevicesUnavailable, acquire
from trn.devices.request import DeviceRequest
from trn.handoff import Outcome

FOUR = machine(4, nvlink_pairs=True)


def _requester(home: str, log: str, n: int) -> None:
    """One trn-like process: lease 2 of the 4 GPUs, hold them a moment, give them back."""
    req = DeviceRequest.from_config({"kind": "gpu", "count": 2})
    for i in range(n):
        alloc, lease = acquire(
            req, Path(home), f"job-{os.getpid()}-{i}", poll_s=0.02, snapshot=lambda: snapshot(FOUR)
        )
        start = time.time()
        time.sleep(0.15)
        end = time.time()
        lease.release()
        with open(log, "a") as f:
            f.write(
                json.dumps({"pid": os.getpid(), "uuids": alloc.device_ids, "t": [start, end]})
                + "\n"
            )


def test_concurrent_requesters_never_share_a_gpu(tmp_path):
    log = tmp_path / "log.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_requester, args=(str(tmp_path), str(log), 3)) for _ in range(5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(PATIENCE)
        assert p.exitcode == 0
    holds = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(holds) == 15 and len({h["pid"] for h in holds}) == 5
    for a in holds:
        assert len(set(a["uuids"])) == 2
        for b in holds:
            if a is not b and set(a["uuids"]) & set(b["uuids"]):
                assert a["t"][1] <= b["t"][0] or b["t"][1] <= a["t"][0], (a, b)
    assert list((tmp_path / "leases").glob("*.json")) == []


HOLDER = """
import sys, time
from pathlib import Path
from trn.devices.fake import machine, snapshot
from trn.devices.manager import acquire
from trn.devices.request import DeviceRequest
alloc, lease = acquire(DeviceRequest(kind="gpu"), Path(sys.argv[1]), "job-holder",
                       snapshot=lambda: snapshot(machine(1)))
print(alloc.device_ids[0], flush=True)
time.sleep(600)
"""


def test_a_requester_killed_with_sigkill_gives_its_gpu_back(tmp_path):
    one = lambda: snapshot(machine(1))  # noqa: E731
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        uuid = holder.stdout.readline().strip()
        assert uuid == machine(1)["gpus"][0]["uuid"]
        store = LeaseStore(tmp_path)
        assert store.read()[uuid]["pid"] == holder.pid
        with pytest.raises(
            DevicesUnavailable, match=r"cuda:0 leased by job job-holder \(pid \d+\)"
        ):
            acquire(DeviceRequest(kind="gpu", wait=False), tmp_path, "job-2", snapshot=one)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    alloc, lease = acquire(DeviceRequest(kind="gpu", wait=False), tmp_path, "job-2", snapshot=one)
    assert alloc.device_ids == [uuid]
    assert LeaseStore(tmp_path).read()[uuid]["job_id"] == "job-2"
    lease.release()
    assert LeaseStore(tmp_path).read() == {}


def test_a_reused_pid_does_not_keep_a_lease(tmp_path):
    store = LeaseStore(tmp_path)
    with store.locked():
        store.take(["GPU-x"], "job-a")
    assert "GPU-x" in store.read()
    path = store.path("GPU-x")
    lease = json.loads(path.read_text())
    path.write_text(json.dumps({**lease, "pid_start": "1"}))  # same pid, another process
    assert store.read() == {} and not path.exists()


def test_another_hosts_lease_is_left_alone(tmp_path):
    store = LeaseStore(tmp_path)
    store.dir.mkdir(parents=True)
    store.path("GPU-y").write_text(
        json.dumps({"uuid": "GPU-y", "pid": 1, "host": "elsewhere", "job_id": "j"})
    )
    assert store.holders() == {"GPU-y": "job j (pid 1@elsewhere)"}


def test_waits_while_taken_and_says_why_once_per_reason(tmp_path):
    one = lambda: snapshot(machine(1))  # noqa: E731
    first, _ = acquire(DeviceRequest(kind="gpu"), tmp_path, "job-a", snapshot=one)
    # the lease belongs to this (live) process: a second request waits for it
    seen = []
    req = DeviceRequest(kind="gpu", wait_timeout_s=0.3)
    with pytest.raises(
        DevicesUnavailable,
        match=r"gave up after 0s \(devices.wait_timeout_s\): .*leased by job job-a",
    ):
        acquire(
            req,
            tmp_path,
            "job-b",
            lambda err, waited: seen.append(err.reasons),
            snapshot=one,
            poll_s=0.05,
        )
    assert len(seen) == 1 and seen[0][0].startswith("cuda:0 leased by job job-a")


def test_no_wait_fails_at_once(tmp_path):
    spec = machine(1)
    spec["gpus"][0]["processes"] = [{"pid": 77, "name": "jupyter"}]
    # raising at all is the point: a request that waited would never return, the GPU stays busy
    with pytest.raises(DevicesUnavailable, match=r"cuda:0 busy \(pid 77 jupyter\)") as err:
        acquire(
            DeviceRequest(kind="gpu", wait=False), tmp_path, "j", snapshot=lambda: snapshot(spec)
        )
    assert err.value.outcome().state == "failed"


def test_ctrl_c_while_waiting_cancels(tmp_path, monkeypatch):
    spec = machine(1)
    spec["gpus"][0]["processes"] = [{"pid": 77}]

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    with pytest.raises(DevicesUnavailable) as err:
        acquire(DeviceRequest(kind="gpu"), tmp_path, "j", snapshot=lambda: snapshot(spec))
    assert err.value.outcome() == Outcome(
        "cancelled", reason="interrupted while waiting for devices"
    )
