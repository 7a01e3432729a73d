"""Kill a real training job at random instants, resume it, and get the same model bit for bit.

The reference trains 24 steps uninterrupted (shuffled data, dropout, 2 loader workers). Each
chain kills its jobs for real (SIGKILL of supervisor + runner group, or SIGTERM), resumes with
``trn resume JOB`` until done, and compares every weight and optimizer tensor with
``torch.equal``. Kill points are random (the seed is printed, so a failure can be replayed with
``TRN_FAULT_SEED``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from conftest import expected_start, wait_until
from test_faults_support import (
    ARGS,
    STEPS,
    Job,
    assert_bitwise_equal,
    effective_state,
    final_state,
    tmp_ckpt,
)

from trn.checkpoints.meta import find_latest, verify

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("TRN_FAULT_SEED", random.randrange(1 << 30)))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults") / "trn-home"


@pytest.fixture(scope="module")
def reference(home) -> dict:
    record = Job(home, "run", *ARGS).finish()
    assert record["state"] == "completed", record
    assert json.loads(Path(record["checkpoint"]).read_text())["step"] == STEPS
    return final_state(record["checkpoint"])


def resume_to_end(home: Path, job_id: str, attempts: int) -> dict:
    record = Job(home, "resume", job_id).finish()
    assert record["state"] == "completed", record
    assert record["attempt"] == attempts + 1 and record["parent_job_id"] == job_id
    events = [json.loads(ln) for ln in (Path(record["job_dir"]) / "events.jsonl").open()]
    assert {e["attempt"] for e in events} == {attempts + 1}
    assert events[0]["event"] == "job_submitted" and events[0]["parent_job_id"] == job_id
    return record


def test_sigkill_anywhere_then_resume_is_bitwise_exact(home, reference):
    rng = random.Random(SEED)
    print(f"TRN_FAULT_SEED={SEED}")
    # 1: mid-epoch 0, at a random instant of a random step
    job = Job(home, "run", *ARGS)
    job.wait_step(rng.randint(3, 6))
    time.sleep(rng.uniform(0, 0.05))
    job.sigkill_all()
    parent = job.record()
    assert parent["state"] == "running"  # as the dead supervisor left it ...
    assert effective_state(home, parent["job_id"]) == "lost"  # ... shown as lost
    assert find_latest(job.dir / "checkpoints") is not None

    # 2: in the middle of a checkpoint write (a .tmp file exists, no meta yet), epoch 1
    job = Job(home, "resume", parent["job_id"])
    job.wait_step(9)
    assert job.freeze_in_save(), f"no checkpoint write caught: {job.finish_text()}"
    job.sigkill_all()
    second = job.record()
    assert second["attempt"] == 2 and second["parent_job_id"] == parent["job_id"]
    checkpoints = job.dir / "checkpoints"
    torn = {p.name[len(".tmp-") : -len(".ckpt")] for p in checkpoints.glob(".tmp-*.ckpt")}
    assert torn and not any((checkpoints / f"{n}.meta.json").exists() for n in torn)
    if (checkpoints / "latest.json").exists():  # else its first save was torn: the parent's holds
        latest = json.loads((checkpoints / "latest.json").read_text())["meta"]
        assert latest[: -len(".meta.json")] not in torn
        verify(checkpoints / latest)  # the previous checkpoint is intact and latest

    # 3: again within the same epoch (steps 9..16 are epoch 1)
    job = Job(home, "resume", second["job_id"])
    job.wait_step(rng.randint(13, 15))
    time.sleep(rng.uniform(0, 0.05))
    job.sigkill_all()
    third = job.record()

    record = resume_to_end(home, third["job_id"], attempts=3)
    assert_bitwise_equal(final_state(record["checkpoint"]), reference)
    assert {r["start"] for r in (parent, second, third, record)} == {expected_start()}


def test_kills_while_saving_around_an_epoch_end_then_resume_is_bitwise_exact(home, reference):
    """Killed while writing the checkpoint due at epoch 0's last step (step and epoch cadence
    meet there), then twice in epoch 1, the last time at its last step. A checkpoint taken at
    an epoch's last batch used to make Lightning resume the next epoch without counting it as
    started; resuming again from a checkpoint of that epoch then replayed batches."""
    job = Job(home, "run", *ARGS)
    chain = []
    for pattern in (".tmp-e000-s0000008-*", ".tmp-e001-s0000012-*", ".tmp-e001-s0000016-*"):
        job.freeze_in_save(pattern, retry=False)  # that save only: caught or just done
        job.sigkill_all()
        chain.append(job.record())
        job = Job(home, "resume", chain[-1]["job_id"])
    names = {p.name for p in (Path(chain[0]["job_dir"]) / "checkpoints").glob("*s0000008*")}
    assert len(names) <= 2  # one checkpoint at step 8 (its .ckpt, and its meta if it got that far)
    record = job.finish()
    assert record["state"] == "completed" and record["attempt"] == 4, record
    assert_bitwise_equal(final_state(record["checkpoint"]), reference)


def test_sigterm_then_resume_is_bitwise_exact(home, reference):
    rng = random.Random(SEED + 1)
    print(f"TRN_FAULT_SEED={SEED}")
    job = Job(home, "run", *ARGS)
    job.wait_step(rng.randint(3, 13))
    os.kill(job.proc.pid, signal.SIGTERM)
    # a second signal, straight to the runner, while it saves: ignored, nothing torn
    wait_until(lambda: tmp_ckpt(job.dir) or job.exited(), "the stop save", every=0.0005)
    try:
        os.killpg(job.record()["runner_pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
    first = job.finish()
    assert first["state"] == "preempted" and "SIGTERM" in first["error"]
    meta = json.loads(Path(first["checkpoint"]).read_text())
    assert meta["reason"] == "stop"
    events = [json.loads(ln) for ln in (job.dir / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "job_preempted"

    job = Job(home, "resume", first["job_id"])
    job.wait_step(meta["step"] + rng.randint(2, 6))
    # as Slurm's --signal=USR1 does: to every process, the supervisor and the loader workers too
    os.kill(job.proc.pid, signal.SIGUSR1)
    os.killpg(job.record()["runner_pid"], signal.SIGUSR1)
    second = job.finish()
    assert second["state"] == "preempted" and "SIGUSR1" in second["error"], second
    record = resume_to_end(home, second["job_id"], attempts=2)
    assert_bitwise_equal(final_state(record["checkpoint"]), reference)
    assert {r["start"] for r in (first, second, record)} == {expected_start()}
