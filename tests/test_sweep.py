"""``trn run -m``: a real sweep of trn jobs, its records, events, summary, failures and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, ROOT, run_trn

from trn.events.schema import validate_file
from trn.registry.record import JobRecord
from trn.registry.store import Registry

SLOTS = "hydra.launcher.cpu_slots=2"


def overlap(a: JobRecord, b: JobRecord) -> bool:
    assert a.started_at and a.ended_at and b.started_at and b.ended_at, (a, b)
    return a.started_at < b.ended_at and b.started_at < a.ended_at


@pytest.mark.slow
def test_sweep_runs_jobs_in_parallel_and_a_failure_stops_nothing(trn_home: Path) -> None:
    proc = run_trn(
        "run",
        "-m",
        "--json",
        *FAST,
        SLOTS,
        # a max_time only Lightning can judge (planning checks it is a string): fails in its runner
        "trainer.max_time=null,forever",
        "optimizer.lr=0.01",
    )
    assert proc.returncode == 1, proc.stderr  # one job failed
    summary = json.loads(proc.stdout)
    sweep_id = summary["sweep_id"]
    assert summary["state"] == "completed" and summary["counts"] == {"completed": 1, "failed": 1}
    good, bad = summary["jobs"]  # sorted: completed first, failures last with their reason
    assert good["state"] == "completed" and good["value"] == summary["best"]["value"]
    assert bad["state"] == "failed" and "forever" in bad["error"]
    records = Registry(trn_home).list(sweep_id=sweep_id, limit=None)
    assert {r.sweep_id for r in records} == {sweep_id} and len(records) == 2
    assert overlap(*records), "two slots: the jobs ran at the same time"
    for r in records:
        launch = json.loads((Path(r.job_dir) / "launch.json").read_text())
        assert launch["allocation"]["env"].get("OMP_NUM_THREADS") in (None, "1")
        validate_file(Path(r.job_dir) / "events.jsonl")
    sweep_dir = next(trn_home.glob(f"sweeps/*/*/*/{sweep_id}"))
    events = validate_file(sweep_dir / "events.jsonl")
    assert [e["event"] for e in events] == ["sweep_started", "sweep_completed"]
    assert events[0]["job_id"] is None and events[0]["source"] == "launcher"
    assert events[1]["counts"] == {"completed": 1, "failed": 1}
    every = validate_file(trn_home / "events.jsonl")
    assert {e["sweep_id"] for e in every} == {sweep_id}
    status = run_trn("status", sweep_id)  # the sweep compares its jobs: best first
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "TIME" in lines[1] and "OVERRIDES" in lines[1]
    assert good["job_id"] in lines[2] and "trainer.max_time=null" in lines[2]
    assert bad["job_id"] in lines[3] and "trainer.max_time=forever" in lines[3]
    assert "optimizer.lr" not in status.stdout  # the same in both jobs: not what was swept
    as_json = json.loads(run_trn("status", sweep_id, "--json").stdout)
    assert as_json["varied"] == ["trainer.max_time"] and as_json["jobs"][0]["duration_s"] > 0
    listed = run_trn("list", "--sweep", sweep_id, "--json")
    assert sorted(r["job_id"] for r in json.loads(listed.stdout)) == sorted(
        r.job_id for r in records
    )


def test_a_bad_override_in_a_sweep_starts_nothing(trn_home: Path, cli) -> None:
    code, out, err = cli("run", "-m", *FAST, "optimizer.lr=0.1,abc")
    assert code == 2
    assert err.count("\n") == 1 and "optimizer.lr" in err and "sweep job 1" in err
    assert not (trn_home / "runs").exists() and not (trn_home / "sweeps").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signals", [1, 2], ids=["graceful", "second-ctrl-c-kills"])
def test_sigint_cancels_the_sweep_and_leaves_nothing_behind(trn_home: Path, signals: int) -> None:
    long = ["trainer.max_epochs=200", "trainer.limit_train_batches=50"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "-m", *FAST, *long, SLOTS, "seed=1,2,3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRN_HOME": str(trn_home)},
    )
    registry = Registry(trn_home)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = registry.list(state="running", limit=None) if (trn_home / "runs").exists() else []
        if len(running) == 2 and all(_has_metrics(r) for r in running):
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"jobs never ran: {proc.communicate()}")
    for _ in range(signals):  # a second Ctrl-C: SIGKILL now, the launcher ends the jobs
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    records = registry.list(limit=None)
    assert len(records) == 2 and {r.state for r in records} == {"cancelled"}
    for r in records:
        for pid in (r.pid, r.runner_pid):
            assert gone(pid), f"process {pid} of job {r.job_id} is still alive"
        events = validate_file(Path(r.job_dir) / "events.jsonl")
        assert events[-1]["event"] == "job_cancelled"
    assert (
        not list((trn_home / "leases").glob("*.json")) if (trn_home / "leases").exists() else True
    )
    assert "cancelled" in out


def gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited (a SIGKILLed orphan takes a moment to be reaped by init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _has_metrics(record: JobRecord) -> bool:
    try:
        return "metrics" in (Path(record.job_dir) / "events.jsonl").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_optuna_drives_the_trn_launcher(trn_home: Path) -> None:
    pytest.importorskip(
        "optuna",
        reason="pip install -c constraints-cpu.txt -e '.[optuna]' for the Optuna sweeper",
    )
    proc = run_trn(
        "run",
        "-m",
        "--json",
        *FAST,
        SLOTS,
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.seed=0",
        "optimizer.lr=interval(0.001,0.1)",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 2}
    values = [job["value"] for job in summary["jobs"]]
    assert values == sorted(values, reverse=True) and summary["best"]["value"] == values[0]
    sweep_dir = next(trn_home.glob(f"sweeps/*/*/*/{summary['sweep_id']}"))
    started = validate_file(sweep_dir / "events.jsonl")[0]
    assert started["sweeper"] == "optuna" and started["jobs"] is None


def test_a_summary_takes_jobs_that_ended_without_an_error_text() -> None:
    from trn.launcher.summary import summarize
    from trn.registry.record import JobRecord, JobView

    records = [
        JobView(JobRecord("b", "/d", state="completed", metrics={"val/acc": 0.9}), "completed"),
        # its supervisor died: stored running, shown lost, no error text
        JobView(JobRecord("a", "/d", state="running", error=None), "lost"),
        JobView(JobRecord("c", "/d", state="cancelled", error=""), "cancelled"),
    ]
    summary = summarize("s", records, {"metric": "val/acc", "mode": "max"}, "completed", 1.0)
    assert [r["job_id"] for r in summary["jobs"]] == ["b", "c", "a"]
    assert [r["error"] for r in summary["jobs"]] == [None, "", ""]
    assert summary["best"] == {"job_id": "b", "value": 0.9}


def test_the_summary_title_says_what_ended_the_sweep_at_any_width() -> None:
    from trn.launcher.summary import render, summarize
    from trn.registry.record import JobRecord, view

    records = [
        view(JobRecord("261207-221902-aaaa", "/d", state="failed", error="NonFiniteError: loss")),
        view(JobRecord("261207-221902-bbbb", "/d", state="cancelled", error="--fail-fast")),
    ]
    objective = {"metric": "val/acc", "mode": "max"}
    summary = summarize("261207-221902-6vtq", records, objective, "failed", 4.0,
                        "261207-221902-aaaa")  # fmt: skip
    for width in (40, 100):
        lines = render(summary, width).splitlines()
        assert lines[0].endswith("--fail-fast: job 261207-221902-aaaa failed first"), lines[0]
        assert all(len(line) <= width for line in lines[1:]), lines
