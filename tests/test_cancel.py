"""``trn cancel JOB|SWEEP``: a running job stops at a step boundary with a checkpoint, as
cancelled; a sweep stops as Ctrl-C stops it; lost jobs and sweeps are ended by the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENCE, read_events, run_trn, wait_until
from test_faults_support import ARGS, Job

from trn.registry.record import JobRecord
from trn.registry.store import Registry


@pytest.mark.slow
def test_cancel_a_running_job_saves_and_ends_cancelled(trn_home):
    # long enough that the cancel, however slow to start on a busy machine, finds it training
    job = Job(trn_home, "run", *ARGS, "trainer.max_epochs=1000")
    job.wait_step(3)
    proc = run_trn("cancel", job.record()["job_id"])
    assert proc.returncode == 0, proc.stderr
    record = job.finish()
    assert record["state"] == "cancelled" and record["error"] == "received SIGINT"
    assert f"job {record['job_id']} cancelled" in proc.stdout
    meta = json.loads(Path(record["checkpoint"]).read_text())
    assert meta["reason"] == "stop" and meta["step"] >= 3
    events = read_events(job.dir / "events.jsonl")
    assert events[-1]["event"] == "job_cancelled"
    # the stop checkpoint is the last word: no validation of the partial epoch after it (a
    # warning may come between: on a busy machine the step after the signal can be slow enough
    # for the throughput watch to say so)
    stop = max(i for i, e in enumerate(events) if e["event"] == "checkpoint_saved")
    after = [e["event"] for e in events[stop + 1 :] if e["event"] != "warning"]
    assert after == ["job_cancelled"], events[stop + 1 :]

    again = run_trn("cancel", record["job_id"])  # it has ended: nothing to do
    assert again.returncode == 1 and "already ended (cancelled)" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_cancel_a_lost_job_marks_it_cancelled(trn_home):
    dead = subprocess.Popen(["true"])
    dead.wait()
    job_dir = trn_home / "runs" / "2026" / "11" / "28" / "261128-120000-lost"
    job_dir.mkdir(parents=True)
    record = JobRecord(job_id="261128-120000-lost", job_dir=str(job_dir), state="running")
    record.pid = dead.pid  # its supervisor is gone
    Registry(trn_home).write(record)
    assert json.loads(run_trn("status", record.job_id, "--json").stdout)["state"] == "lost"
    proc = run_trn("cancel", record.job_id, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "cancelled"
    assert Registry.read(job_dir)["state"] == "cancelled"
    end = read_events(job_dir / "events.jsonl")[-1]  # as the launcher ends a lost job
    assert end["event"] == "job_cancelled" and "supervisor was lost" in end["reason"]


def test_cancel_does_not_import_torch(trn_home):
    code = (
        "import sys\nfrom trn.cli.main import main\n"
        "assert main(['cancel', 'abc123']) == 1\n"
        "heavy = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no job or sweep 'abc123'" in proc.stderr


def _lost_job(home: Path, job_id: str, sweep_id: str | None = None) -> Path:
    dead = subprocess.Popen(["true"])
    dead.wait()
    job_dir = home / "runs" / "2026" / "11" / "28" / job_id
    job_dir.mkdir(parents=True)
    record = JobRecord(job_id=job_id, job_dir=str(job_dir), state="running", sweep_id=sweep_id)
    record.pid = dead.pid  # its supervisor is gone
    Registry(home).write(record)
    return job_dir


def test_job_cancel_from_the_api_ends_a_lost_job(trn_home):
    import trn

    job_dir = _lost_job(trn_home, "261128-120000-apil")
    job = trn.Job("261128-120000-apil", job_dir)
    assert job.status() == "lost"
    job.cancel()  # the same path as `trn cancel`: nobody else would end it
    assert job.status() == "cancelled"
    assert "supervisor was lost" in Registry.read(job_dir)["error"]
    job.cancel()  # ended: a no-op


@pytest.mark.slow
def test_cancel_a_detached_sweep_cancels_its_jobs(trn_home):
    proc = run_trn(
        "run", "-m", "--detach", "--json", "profile=dev", "devices=cpu",
        "trainer.max_epochs=500", "trainer.limit_val_batches=1", "seed=1,2,3",
        "hydra.launcher.cpu_slots=1", "events.metrics_every_n_steps=1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep = json.loads(proc.stdout)
    sweep_dir = Path(sweep["sweep_dir"])
    wait_until(
        lambda: any(
            '"event":"metrics"' in p.read_text() for p in trn_home.glob("runs/*/*/*/*/events.jsonl")
        ),
        "the sweep's first job training",
    )
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["pid"] == sweep["pid"] and state["host"]

    first = run_trn("cancel", sweep["sweep_id"], "--no-wait")
    assert first.returncode == 0 and first.stdout.strip().endswith("cancel requested")
    proc = run_trn("cancel", sweep["sweep_id"], "--json")  # waits; does not signal again
    if proc.returncode == 1:  # the sweep ended while this command started (a busy machine)
        assert "already ended (cancelled)" in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        end = json.loads(proc.stdout)
        assert end["event"] == "sweep_completed" and end["state"] == "cancelled"
    assert json.loads((sweep_dir / "summary.json").read_text())["state"] == "cancelled"
    records = Registry(trn_home).list(sweep_id=sweep["sweep_id"], limit=None)
    assert records and {r.state for r in records} == {"cancelled"}  # 1 slot: 1 had started
    assert {r.error for r in records} == {"received SIGINT"}  # stopped, not killed: one SIGINT
    assert all(r.checkpoint for r in records), records  # it saved on the way out: resumable

    again = run_trn("cancel", sweep["sweep_id"])
    assert again.returncode == 1 and "already ended (cancelled)" in again.stderr


def test_cancel_a_lost_sweep_ends_its_jobs_and_the_sweep(trn_home):
    from trn.registry.sweeps import record_process, sweep_events

    sweep_id = "261128-120000-swlo"
    sweep_dir = trn_home / "sweeps" / "2026" / "11" / "28" / sweep_id
    sweep_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    record_process(sweep_dir, sweep_id, 2, pid=dead.pid)  # its process is gone
    events = sweep_events(sweep_dir, sweep_id, trn_home)
    events.emit("sweep_started", sweep_dir=str(sweep_dir), overrides=["seed=1,2"], jobs=2,
                sweeper="basic", objective={"metric": "val/acc", "mode": "max"})  # fmt: skip
    events.close()
    job_dir = _lost_job(trn_home, "261128-120001-swj1", sweep_id)

    proc = run_trn("cancel", sweep_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sweep {sweep_id} cancelled (1 cancelled)"
    assert Registry.read(job_dir)["state"] == "cancelled"
    end = read_events(sweep_dir / "events.jsonl")[-1]
    assert end["event"] == "sweep_completed" and end["state"] == "cancelled"
    assert "process was lost" in end["error"] and end["duration_s"] >= 0


def test_cancel_names_what_it_cannot_find(trn_home):
    proc = run_trn("cancel", "261128-999999-none")
    assert proc.returncode == 1 and "no job or sweep '261128-999999-none'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    bad = run_trn("cancel", "../etc")
    assert bad.returncode == 2 and "invalid job id" in bad.stderr


def test_cancel_a_sweep_whose_process_dies_of_the_signal(trn_home):
    """SIGINT before the sweep process had started its sweep kills it without a summary: the
    command sees the process gone and ends the sweep itself."""
    from trn.registry.sweeps import record_process, sweep_events

    sweep_id = "261128-120000-swdi"
    sweep_dir = trn_home / "sweeps" / "2026" / "11" / "28" / sweep_id
    sweep_dir.mkdir(parents=True)
    victim = subprocess.Popen(["sleep", "60"])  # SIGINT ends it at once, writing nothing
    try:
        record_process(sweep_dir, sweep_id, 1, pid=victim.pid)
        events = sweep_events(sweep_dir, sweep_id, trn_home)
        events.emit("sweep_started", sweep_dir=str(sweep_dir), overrides=[], jobs=1,
                    sweeper="basic", objective={"metric": "val/acc", "mode": "max"})  # fmt: skip
        events.close()
        proc = run_trn("cancel", sweep_id, "--timeout", str(PATIENCE))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"sweep {sweep_id} cancelled (no jobs)"
        assert victim.wait(PATIENCE) == -2  # it got the SIGINT
    finally:
        victim.kill()
