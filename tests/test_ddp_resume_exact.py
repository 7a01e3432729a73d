"""Exact resume of a 2-rank DDP job (one node, 2 processes over gloo): a job cancelled mid-epoch and
resumed ends bit for bit where the uninterrupted one does, every rank continuing at its own next
sample (a checkpoint holds rank 0's sampler; rank 1 places itself by the batches done). A resume
with another world size cannot be exact: the record and ``job_started`` say so, and why.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from test_faults_support import ARGS, Job, assert_bitwise_equal, final_state

pytestmark = pytest.mark.slow

# 2 epochs of 20 steps: a Ctrl-C after step 5 lands mid-epoch however busy the machine is
DDP = [*ARGS, "devices.processes=2", "trainer.max_epochs=2", "trainer.limit_train_batches=20"]
STEPS = 40


def job_started(record: dict) -> dict:
    events = [json.loads(ln) for ln in (Path(record["job_dir"]) / "events.jsonl").open()]
    return next(e for e in events if e["event"] == "job_started")


def test_a_cancelled_two_rank_job_resumes_bitwise_exact_and_a_new_world_size_says_it_is_not(
    tmp_path,
) -> None:
    home = tmp_path / "trn-home"
    reference = Job(home, "run", *DDP).finish()
    assert reference["state"] == "completed", reference
    assert json.loads(Path(reference["checkpoint"]).read_text())["step"] == STEPS

    job = Job(home, "run", *DDP)
    job.wait_step(5)
    job.proc.send_signal(signal.SIGINT)  # Ctrl-C: the ranks stop at one step and save
    stopped = job.finish()
    assert stopped["state"] == "cancelled", stopped
    meta = json.loads(Path(stopped["checkpoint"]).read_text())
    assert 5 <= meta["step"] < 20, meta  # the resume starts mid-epoch: the sampler's place matters

    resumed = Job(home, "resume", stopped["job_id"]).finish()
    assert resumed["state"] == "completed", resumed
    assert_bitwise_equal(final_state(resumed["checkpoint"]), final_state(reference["checkpoint"]))
    assert resumed["resume_exact"] is True and resumed["warnings"] == []
    assert "sampler layout changed" not in (Path(resumed["job_dir"]) / "runner.log").read_text()

    other = Job(home, "resume", stopped["job_id"], "devices.processes=1").finish()
    assert other["state"] == "completed", other
    assert other["resume_exact"] is False
    assert any("resume not exact" in w and "world_size" in w for w in other["warnings"]), other
    started = job_started(other)
    assert started["resume_exact"] is False and "world_size" in started["resume_inexact"]
