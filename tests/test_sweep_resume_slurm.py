"""``trn resume SWEEP`` of a Slurm sweep whose sweep process was SIGKILLed and whose Slurm jobs
were killed (``scancel --signal=KILL``): the rest runs on Slurm again, every point completed
exactly once, the job numbers continuous."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import run_trn
from sweep_support import by_point, start_sweep, sweep_dir, sweep_records, wait_for
from test_slurm import SLURM, slurm  # noqa: F401 - the fixture: a running cluster, else skip

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
JOB = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=40",
    "trainer.limit_val_batches=2",
    "checkpoint.every_n_epochs=1",
]


def test_a_killed_slurm_sweep_resumes_on_slurm(slurm: str, trn_home: Path) -> None:  # noqa: F811
    proc = start_sweep(trn_home, *JOB, *SLURM, "seed=1,2,3")

    def running_with_checkpoint() -> bool:
        return any(r["state"] == "running" and r.get("checkpoint") for r in sweep_records(trn_home))

    wait_for(running_with_checkpoint, what="a Slurm job half way")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    slurm_ids = [r["extra"]["slurm_job_id"] for r in sweep_records(trn_home)]
    subprocess.run(["scancel", "--signal=KILL", *slurm_ids], check=False)
    for r in sweep_records(trn_home):  # anything Slurm's kill missed
        for pid in filter(None, (r.get("pid"), r.get("runner_pid"))):
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def out_of_queue() -> bool:
        q = subprocess.run(["squeue", "-h", "-j", ",".join(slurm_ids)], capture_output=True)
        return not q.stdout.strip()

    wait_for(out_of_queue, what="the Slurm jobs to leave the queue")
    sid = sweep_dir(trn_home).name
    resumed = run_trn("resume", sid, "--json", timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["counts"] == {"completed": 3}
    records = sweep_records(trn_home)
    points = by_point(records)
    assert sorted(points) == [0, 1, 2]
    for jobs in points.values():
        assert [j["state"] for j in jobs].count("completed") == 1
    assert sorted(r["sweep_num"] for r in records) == list(range(len(records)))
    resumed_jobs = [r for r in records if r.get("parent_job_id")]
    assert resumed_jobs and all(r["backend"] == "slurm" for r in resumed_jobs)
    assert all(r["extra"].get("slurm_job_id") not in slurm_ids for r in resumed_jobs)
