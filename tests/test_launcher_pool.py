"""The sweep scheduler on a fake pool of GPUs with real leases and real (sleeping) processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trn.devices.leases import LeaseStore
from trn.launcher.pool import Pool, cpu_slots, gpu_slots
from trn.launcher.scheduler import Scheduler, WorkItem

GPUS = [f"GPU-{i:08x}-fake" for i in range(4)]


def sleeper(index: int, seconds: float, out: Path, need: int = 1) -> WorkItem:
    """A job that records the GPUs it was given and sleeps."""
    code = (
        "import json, os, sys, time; "
        f"open({str(out)!r}, 'a').write(json.dumps([{index}, os.environ['CUDA_VISIBLE_DEVICES'],"
        " os.environ['OMP_NUM_THREADS'], time.time()]) + '\\n'); "
        f"time.sleep({seconds})"
    )
    return WorkItem(index, [sys.executable, "-c", code], need=need)


def test_jobs_never_share_a_gpu_and_leases_are_held_then_released(tmp_path: Path) -> None:
    pool = Pool(gpu_slots(GPUS), home=tmp_path, hold_leases=True)
    out = tmp_path / "seen.jsonl"
    jobs = [sleeper(i, 0.4, out, need=2 if i % 3 == 0 else 1) for i in range(9)]
    held: list[int] = []

    def on_event(what: str, job: WorkItem, outcome) -> None:
        if what == "started":
            held.append(len(LeaseStore(tmp_path).holders()))

    outcomes = Scheduler(pool, on_event=on_event).run(jobs)
    assert [o.rc for o in outcomes] == [0] * 9
    assert max(held) <= len(GPUS) and min(held) >= 1
    assert LeaseStore(tmp_path).holders() == {}  # every lease given back
    # no two overlapping jobs saw the same GPU
    spans = [(o.started, o.ended, set(o.devices)) for o in outcomes]
    for i, (s1, e1, d1) in enumerate(spans):
        for s2, e2, d2 in spans[i + 1 :]:
            if s1 < e2 and s2 < e1:
                assert not d1 & d2
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(len(g.split(",")) == (2 if i % 3 == 0 else 1) for i, g, _, _ in seen)
    assert sorted(len(o.devices) for o in outcomes) == sorted(j.need for j in jobs)


def test_a_gpu_leased_by_another_process_is_never_used(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store = LeaseStore(tmp_path)
        with store.locked():
            lease = store.take([GPUS[0]], "someone-else")
        path = store.path(GPUS[0])
        record = json.loads(path.read_text())
        record["pid"], record["pid_start"] = other.pid, None
        path.write_text(json.dumps(record))
        out = tmp_path / "seen.jsonl"
        pool = Pool(gpu_slots(GPUS[:2]), home=tmp_path, hold_leases=True)
        outcomes = Scheduler(pool).run([sleeper(i, 0.1, out) for i in range(3)])
        assert all(o.devices == [GPUS[1]] for o in outcomes)
        assert GPUS[0] in LeaseStore(tmp_path).holders()  # theirs, untouched
        lease.uuids = []
    finally:
        other.kill()
        other.wait()


def test_cpu_slots_split_cores_and_threads() -> None:
    slots = cpu_slots(2, [0, 1, 2, 3])
    assert [s.cpus for s in slots] == [(0, 1), (2, 3)]
    assert [s.cpus for s in cpu_slots(3, [0, 1])] == [(0,), (1,), (0,)]
    pool = Pool(slots, threads_per_slot=2)
    env = pool.assignment(slots[:1]).env()
    assert env["OMP_NUM_THREADS"] == "2" and env["CUDA_VISIBLE_DEVICES"] == ""


def test_next_job_starts_the_moment_a_slot_frees(tmp_path: Path) -> None:
    pool = Pool(gpu_slots(GPUS[:2]), home=tmp_path, hold_leases=False)
    out = tmp_path / "seen.jsonl"
    outcomes = Scheduler(pool).run([sleeper(i, 0.3, out) for i in range(6)])
    gaps = [o.gap_s for o in outcomes[2:]]
    assert max(gaps) < 0.1, gaps


def test_stagger_spaces_the_starts(tmp_path: Path) -> None:
    pool = Pool(gpu_slots(GPUS), home=tmp_path, hold_leases=False)
    outcomes = Scheduler(pool, stagger_s=0.3).run(
        [sleeper(i, 0.1, tmp_path / "s.jsonl") for i in range(3)]
    )
    starts = sorted(o.started for o in outcomes)
    assert all(b - a >= 0.29 for a, b in zip(starts, starts[1:]))


def test_sigint_cancels_running_jobs_and_kills_none_left(tmp_path: Path) -> None:
    pool = Pool(gpu_slots(GPUS[:2]), home=tmp_path, hold_leases=True)
    jobs = [sleeper(i, 600, tmp_path / "s.jsonl") for i in range(4)]
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    scheduler = Scheduler(pool, grace_s=5)
    started = time.monotonic()
    outcomes = scheduler.run(jobs)
    assert time.monotonic() - started < 300  # killed: not slept out (python -c sleep dies of
    # SIGINT at once; the bound is a busy machine's start-up, far below the sleep)
    assert scheduler.interrupted
    assert all(o.cancelled for o in outcomes)
    assert [o.rc is None for o in outcomes] == [False, False, True, True]
    for o in outcomes[:2]:
        with pytest.raises(ProcessLookupError):
            os.kill(o.pid, 0)
    assert LeaseStore(tmp_path).holders() == {}


def test_the_pool_is_the_machines_gpus_or_cpu_shares(tmp_path: Path, monkeypatch) -> None:
    from trn.devices.fake import machine
    from trn.launcher.pool import build_pool

    spec = tmp_path / "machine.json"
    spec.write_text(json.dumps(machine(8)))
    monkeypatch.setenv("TRN_FAKE_NVML", str(spec))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pool = build_pool("auto", None, tmp_path, hold_leases=False)
    assert pool.kind == "gpu" and len(pool.slots) == 8
    env = pool.assignment(pool.slots[2:4]).env()
    assert env["CUDA_VISIBLE_DEVICES"] == ",".join(s.gpu for s in pool.slots[2:4])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", pool.slots[5].gpu)  # an inherited pool boundary
    assert [s.gpu for s in build_pool("auto", None, tmp_path, False).slots] == [pool.slots[5].gpu]
    cpu = build_pool("cpu", 2, tmp_path, hold_leases=False)
    assert cpu.kind == "cpu" and len(cpu.slots) == 2


def test_a_job_whose_process_died_but_whose_job_completed_returns_its_objective(tmp_path):
    """The reaper ends a job from its runner's outcome when the job process was killed; the
    sweeper (Optuna, Hydra's basic one) must then see that job completed, with its objective."""
    from hydra.core.utils import JobStatus

    from trn.launcher.scheduler import Outcome
    from trn.launcher.trn_jobs import collect
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

    job_dir = tmp_path / "runs" / "j1"
    job_dir.mkdir(parents=True)
    (job_dir / "config.yaml").write_text("objective: {metric: val/acc, mode: max}\n")
    record = JobRecord(job_id="j1", job_dir=str(job_dir), state="completed")
    record.metrics, record.config_path = {"val/acc": 0.75}, str(job_dir / "config.yaml")
    Registry(tmp_path).write(record)
    (tmp_path / "0.job").write_text(json.dumps({"job_dir": str(job_dir)}))
    ret = collect((["optimizer.lr=0.1"], None), Outcome(0, rc=-9), tmp_path)
    assert ret.status == JobStatus.COMPLETED and ret.return_value == 0.75
    record.state = "failed"
    Registry(tmp_path).write(record)
    assert (
        collect((["optimizer.lr=0.1"], None), Outcome(0, rc=-9), tmp_path).status
        == JobStatus.FAILED
    )
