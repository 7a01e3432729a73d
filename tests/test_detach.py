"""`trn run --detach`: the parent returns at once, the job runs on in its own session, completes,
and is reported `lost` if its supervisor dies."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from conftest import FAST, read_events, run_trn, wait_until

pytestmark = pytest.mark.slow


def wait_for(job: str, states: set[str], **env: str) -> dict:
    def status() -> dict | None:
        record = json.loads(run_trn("status", job, "--json", env=env).stdout)
        return record if record["state"] in states else None

    return wait_until(status, f"job {job} in {sorted(states)}", every=0.5)


def test_detach_returns_at_once_and_the_job_completes(trn_home, tmp_path):
    log_dir, event_log = tmp_path / "logs", tmp_path / "events" / "training.jsonl"
    proc = run_trn(
        "run", "--detach", "--json", "--log-dir", str(log_dir), "--event-log", str(event_log), *FAST
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "submitted"  # it returned before the job started (how soon:
    # benchmarks/startup.py)
    assert Path(f"/proc/{record['pid']}").exists()  # the supervisor, alive after the parent left
    assert Path(record["job_dir"]).is_relative_to(log_dir)  # --log-dir is TRN_HOME
    assert os.getsid(record["pid"]) != os.getsid(0)  # its own session: the terminal may close

    job, home = record["job_id"], {"TRN_HOME": str(log_dir)}
    running = json.loads(run_trn("status", job, "--json", env=home).stdout)
    assert running["state"] in ("submitted", "running")  # not lost: the supervisor lives on
    final = wait_for(job, {"completed", "failed", "lost"}, **home)
    assert final["state"] == "completed", final
    assert final["pid"] == record["pid"]

    events = read_events(Path(final["job_dir"]) / "events.jsonl")
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["event"] == "job_submitted" and events[-1]["event"] == "job_completed"
    assert read_events(event_log) == events  # --event-log got every event
    assert not trn_home.exists()  # nothing went to the default home


def test_a_detached_job_whose_supervisor_dies_is_lost(trn_home):
    slow = [*FAST, "trainer.max_epochs=100", "trainer.limit_train_batches=50"]
    proc = run_trn("run", "--detach", *slow)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()  # the id alone on stdout: JOB=$(trn run --detach ...)
    assert "\n" not in job and f"trn logs -f {job}" in proc.stderr
    record = wait_for(job, {"running", "completed", "failed", "lost"})
    assert record["state"] == "running", record
    os.kill(record["pid"], signal.SIGKILL)
    os.killpg(record["runner_pid"], signal.SIGKILL)
    wait_for(job, {"lost"})
    listed = json.loads(run_trn("list", "--state", "lost", "--json").stdout)
    assert [r["job_id"] for r in listed] == [job]


def test_detach_with_bad_input_exits_2_and_leaves_nothing(trn_home):
    proc = run_trn("run", "--detach", "model=nope")
    assert proc.returncode == 2 and "model=nope: no such option" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (trn_home / "runs").exists()


def test_the_detached_entry_point_needs_a_job_plan():
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "trn.host", "detach-job"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "trn: detach-job takes one spec file; "
        "usage: python -m trn.host detach-job|detach-sweep|sweep-job SPEC\n"
    )
