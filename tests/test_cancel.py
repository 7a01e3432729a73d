"""``trn cancel JOB``: a running job stops at a step boundary with a checkpoint, as cancelled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_trn
from test_faults_support import ARGS, Job

from trn.registry.record import JobRecord
from trn.registry.store import Registry


@pytest.mark.slow
def test_cancel_a_running_job_saves_and_ends_cancelled(trn_home):
    job = Job(trn_home, "run", *ARGS)
    job.wait_step(3)
    proc = run_trn("cancel", job.record()["job_id"])
    assert proc.returncode == 0, proc.stderr
    record = job.finish()
    assert record["state"] == "cancelled" and record["error"] == "received SIGINT"
    assert f"job {record['job_id']} cancelled" in proc.stdout
    meta = json.loads(Path(record["checkpoint"]).read_text())
    assert meta["reason"] == "stop" and meta["step"] >= 3
    events = (job.dir / "events.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["event"] == "job_cancelled"

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


def test_cancel_does_not_import_torch(trn_home):
    code = (
        "import sys\nfrom trn.cli.main import main\n"
        "assert main(['cancel', 'abc123']) == 1\n"
        "heavy = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no job 'abc123'" in proc.stderr
