"""The Python API (`import trn`): light import, typed errors, submit/follow/cancel, run/jobs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import FAST, PATIENCE, ROOT

import trn

HEAVY = "[m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]"
TORCH = "[m for m in ('torch', 'lightning') if m in sys.modules]"  # submit composes with hydra


def python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_trn_and_listing_jobs_imports_no_torch_or_hydra(trn_home):
    got = python(
        "import json, sys, trn\n"
        "api = [trn.run, trn.submit, trn.jobs, trn.job, trn.Job, trn.ConfigError, trn.JobFailed]\n"
        f"print(json.dumps({{'jobs': trn.jobs(), 'heavy': {HEAVY}}}))\n"
    )
    assert got == {"jobs": [], "heavy": []}


def test_config_errors_list_every_problem_and_leave_nothing(trn_home):
    with pytest.raises(trn.ConfigError) as err:
        trn.submit(["optimizer.lr=abc", "trainer.max_epochs=0"], devices="cpu")
    assert len(err.value.problems) == 2
    assert 'optimizer.lr="abc" is not a number' in err.value.problems[0]
    assert "trainer.max_epochs=0 is out of range" in err.value.problems[1]
    assert not (trn_home / "runs").exists()


def test_flags_are_keyword_arguments_with_the_same_conflict_rule(trn_home):
    with pytest.raises(trn.UsageError, match="--profile dev conflicts with override profile=prod"):
        trn.submit(["profile=prod"], profile="dev")
    with pytest.raises(TypeError, match="list of strings"):
        trn.submit("profile=dev")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of strings"):
        trn.submit(["optimizer.lr", 1e-3])  # type: ignore[list-item]


def test_lookups_raise_typed_errors(trn_home):
    with pytest.raises(trn.NotFound, match="no job 'abc123'"):
        trn.job("abc123")
    with pytest.raises(trn.UsageError, match="invalid job id"):
        trn.job("../etc")
    with pytest.raises(trn.UsageError, match="not a job state"):
        trn.jobs(state="finished")


@pytest.mark.slow
def test_submit_follow_events_and_cancel_without_importing_torch(trn_home):
    long_job = [*FAST, "trainer.max_epochs=100", "trainer.limit_train_batches=50"]
    got = python(
        "import json, sys, trn\n"
        f"job = trn.submit({long_job!r})\n"
        "seen = []\n"
        "for event in job.events():\n"
        "    seen.append(event['event'])\n"
        "    if event['event'] == 'metrics' and 'cancel' not in seen:\n"
        "        job.cancel()\n"
        "        seen.append('cancel')\n"
        "try:\n"
        f"    job.wait(timeout={PATIENCE})\n"
        "    failed = None\n"
        "except trn.JobFailed as err:\n"
        "    failed = err.state\n"
        "record = job.wait(check=False)\n"
        f"print(json.dumps({{'seen': seen, 'failed': failed, 'record': record, 'heavy': {TORCH}}}))\n"
    )
    seen, record = got["seen"], got["record"]
    assert seen[0] == "job_submitted" and "job_started" in seen and "cancel" in seen
    assert seen[-1] == "job_cancelled"  # the iterator ended on the terminal event
    assert got["failed"] == "cancelled" and record["state"] == "cancelled"
    assert seen.count("metrics") < 200  # stopped early: all 100 epochs would log over 1,300
    assert got["heavy"] == []  # the job ran in its own processes
    assert trn.jobs(state="cancelled")[0]["job_id"] == record["job_id"]


@pytest.mark.slow
def test_run_waits_and_returns_the_finished_record(trn_home):
    record = trn.run(FAST)
    assert record["state"] == "completed" and record["exit_code"] == 0
    job = trn.job(record["job_id"][:15])
    assert job.status() == "completed" and trn.jobs()[0]["job_id"] == job.job_id
    events = list(job.events(follow=False))
    assert events[0]["event"] == "job_submitted" and events[-1]["event"] == "job_completed"
