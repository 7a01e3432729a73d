"""How many threads a job computes with: the user's setting wins, else the cores it may use less
what other trn jobs hold; the record says which (trn.devices.threads)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, PATIENCE, ROOT, read_events, run_trn, wait_until

from trn.devices.leases import LeaseStore
from trn.devices.threads import choose, explicit, observed
from trn.launcher.pool import Pool, cpu_slots
from trn.proc import start_time
from trn.registry.store import Registry


def test_the_config_wins_then_the_users_environment_then_the_cores():
    env = {"OMP_NUM_THREADS": "3"}
    assert choose(5, env, 8, "8 in affinity").to_dict() == {
        "count": 5,
        "source": "devices.threads",
        "why": "devices.threads=5",
    }
    got = choose(None, env, 8, "8 in affinity")
    assert (got.count, got.source, got.why) == (
        3,
        "environment",
        "OMP_NUM_THREADS=3 in the environment",
    )
    got = choose(None, {"MKL_NUM_THREADS": "2"}, 8, "8 in affinity")
    assert (got.count, got.source) == (2, "environment")
    got = choose(None, {}, 8, "8 in affinity", held=2, processes=3)
    assert (got.count, got.source) == (2, "cores")  # (8 - 2) // 3
    assert (
        got.why
        == "8 usable CPUs (8 in affinity), 2 held by other trn jobs, split between 3 processes"
    )
    assert choose(None, {}, 2, "2 in affinity", held=5).count == 1  # never fewer than one
    assert choose(None, {}, 2, "").env()["GOMP_SPINCOUNT"] == "10000"
    assert "GOMP_SPINCOUNT" not in choose(None, {"OMP_WAIT_POLICY": "active"}, 2, "").env()
    assert "GOMP_SPINCOUNT" not in choose(None, {"GOMP_SPINCOUNT": "0"}, 2, "").env()


def test_what_trn_set_itself_or_cannot_be_parsed_is_not_the_users_choice():
    assert explicit({"OMP_NUM_THREADS": "1", "TRN_THREADS": "1"}) is None  # a sweep slot's
    assert explicit({"OMP_NUM_THREADS": "4", "TRN_THREADS": "1"}) == (
        4,
        "OMP_NUM_THREADS=4 in the environment",
    )  # changed by the user after trn set it
    assert explicit({"OMP_NUM_THREADS": "lots"}) is None
    assert explicit({"OMP_NUM_THREADS": "0"}) is None
    assert explicit({}) is None


def test_a_count_the_projects_code_set_is_recorded_as_the_codes():
    planned = {"count": 2, "source": "cores", "why": "2 usable CPUs (2 in affinity)"}
    assert observed(planned, 2) == planned
    assert observed(planned, None) == planned
    assert observed(planned, 1) == {
        "count": 1,
        "source": "code",
        "why": "torch.set_num_threads(1) in the project's code (trn had chosen 2)",
    }


def _lease_of(store: LeaseStore, proc: subprocess.Popen, cpus: list[int], threads: int) -> None:
    """A CPU lease held by ``proc`` (another process), as its supervisor would write it."""
    key = f"cpu:job-{proc.pid}"
    record = {
        "uuid": key,
        "pid": proc.pid,
        "pid_start": start_time(proc.pid),
        "host": os.uname()[1],
    }
    record.update(job_id=f"job-{proc.pid}", cpus=cpus, threads=threads)
    store.dir.mkdir(parents=True, exist_ok=True)
    store.path(key).write_text(json.dumps(record))


def test_other_jobs_hold_only_the_threads_they_run_on_these_cpus(tmp_path):
    store = LeaseStore(tmp_path)
    others = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in "ab"
    ]
    try:
        _lease_of(store, others[0], [0, 1, 2, 3], 4)  # spread over four CPUs, two of them ours
        _lease_of(store, others[1], [6], 1)  # pinned elsewhere
        assert store.held_threads([2, 3, 4, 5]) == 2
        assert store.held_threads([6]) == 1
        assert store.holders() == {}  # thread leases are not GPU leases
        others[0].kill()
        others[0].wait()  # a dead holder holds nothing (its lease is reclaimed)
        assert store.held_threads([0, 1, 2, 3]) == 0
        assert not store.path(f"cpu:job-{others[0].pid}").exists()
    finally:
        for proc in others:
            proc.kill()
            proc.wait()


def test_a_sweep_slot_sets_threads_unless_the_user_did():
    slots = cpu_slots(None, [0, 1, 2, 3], jobs=1)
    assert [s.cpus for s in slots] == [(0, 1, 2, 3)]  # one job: every CPU, as a single run
    assert [s.cpus for s in cpu_slots(None, [0, 1, 2, 3], jobs=8)] == [(0,), (1,), (2,), (3,)]
    pool = Pool(cpu_slots(2, [0, 1, 2, 3]), threads_per_slot=2)
    env = pool.assignment(pool.slots[:1]).env(user_env={})
    assert env["OMP_NUM_THREADS"] == env["TRN_THREADS"] == "2"
    assert "OMP_NUM_THREADS" not in pool.assignment(pool.slots[:1]).env({"OMP_NUM_THREADS": "1"})


# -- real jobs -----------------------------------------------------------------------------------
def _threads_of(record: dict) -> tuple[dict, int, dict]:
    """The record's threads, the count rank 0 computed with, and launch.json's variables."""
    job_dir = Path(record["job_dir"])
    started = [e for e in read_events(job_dir / "events.jsonl") if e["event"] == "job_started"]
    env = json.loads((job_dir / "launch.json").read_text())["allocation"]["env"]
    return record["threads"], started[0]["threads"], env


@pytest.mark.slow
@pytest.mark.parametrize("warm", ["1", "0"])
def test_the_users_omp_num_threads_reaches_the_runner_and_is_recorded(trn_home, warm):
    proc = run_trn("run", "--json", *FAST, env={"OMP_NUM_THREADS": "1", "TRN_WARM": warm})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["start"] == ("warm" if warm == "1" else "cold")
    threads, actual, env = _threads_of(record)
    assert threads == {
        "count": 1,
        "source": "environment",
        "why": "OMP_NUM_THREADS=1 in the environment",
    }
    assert actual == 1 and env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"


@pytest.mark.slow
def test_one_cpu_of_affinity_gives_one_thread(trn_home):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs to tell one from all")
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "run", "--json", *FAST],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=PATIENCE,
        env={k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),  # taskset -c
    )
    assert proc.returncode == 0, proc.stderr
    threads, actual, _ = _threads_of(json.loads(proc.stdout))
    assert (threads["count"], threads["source"], actual) == (1, "cores", 1)
    assert threads["why"].startswith("1 usable CPU (1 in affinity")


@pytest.mark.slow
def test_a_single_job_and_a_one_point_sweep_get_the_same_count(trn_home):
    plain = {k: "" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}  # empty: not the user's
    single = run_trn("run", "--json", *FAST, env=plain)
    assert single.returncode == 0, single.stderr
    sweep = run_trn("run", "-m", "--json", *FAST, "seed=7", env=plain)
    assert sweep.returncode == 0, sweep.stderr
    (point,) = Registry(trn_home).list(sweep_id=json.loads(sweep.stdout)["sweep_id"], limit=None)
    a, b = _threads_of(json.loads(single.stdout)), _threads_of(point.to_dict())
    assert a[0]["count"] == b[0]["count"] == a[1] == b[1] == len(os.sched_getaffinity(0))
    assert a[0]["source"] == b[0]["source"] == "cores"


@pytest.mark.slow
def test_a_second_job_counts_the_threads_the_first_holds(trn_home):
    cpus = len(os.sched_getaffinity(0))
    if cpus < 2:
        pytest.skip("needs 2 CPUs")
    plain = {**os.environ, "OMP_NUM_THREADS": "", "MKL_NUM_THREADS": ""}
    long = [*FAST, "trainer.max_epochs=1000", "trainer.limit_train_batches=20"]
    first = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", *long], cwd=ROOT, env=plain,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        running = wait_until(
            lambda: [r for r in Registry(trn_home).list(limit=None) if r.state == "running"],
            "the first job running",
        )
        assert (running[0].threads or {}).get("count") == cpus
        second = run_trn("run", "--json", *FAST, "devices.processes=1", env=plain)
        assert second.returncode == 0, second.stderr
        threads, actual, _ = _threads_of(json.loads(second.stdout))
        assert threads["count"] == actual == 1  # every CPU is held by the first job
        assert f"{cpus} held by other trn jobs" in threads["why"]
        first.send_signal(signal.SIGINT)  # Ctrl-C: it stops at a step, with a checkpoint
        first.wait(PATIENCE)
    finally:
        first.kill()
        first.wait()
    assert not list((trn_home / "leases").glob("cpu*.json"))  # each job gave its lease back


@pytest.mark.slow
def test_devices_threads_sets_the_count_and_trn_doctor_says_why(trn_home):
    proc = run_trn("run", "--json", *FAST, "devices.threads=1")
    assert proc.returncode == 0, proc.stderr
    threads, actual, _ = _threads_of(json.loads(proc.stdout))
    assert (threads["source"], threads["count"], actual) == ("devices.threads", 1, 1)
    doctor = run_trn("doctor", "devices=cpu", env={"OMP_NUM_THREADS": "1"})
    assert "1 thread per process: OMP_NUM_THREADS=1 in the environment" in doctor.stdout
