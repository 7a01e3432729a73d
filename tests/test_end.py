"""Ending a job: every path (supervisor, reaper, Slurm dropped, cancel of a lost job) goes through
``end_job``: the final record, the terminal event in every sink the job's config names, the
manifest line; once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import FAST, PATIENCE, ROOT, read_events, run_trn, wait_until

from trn.events.schema import validate_file
from trn.handoff import Outcome
from trn.jobdir import JobDir
from trn.lifecycle.end import end_job, reap
from trn.lifecycle.planning import make_plan
from trn.lifecycle.supervisor import Supervisor
from trn.proc import alive
from trn.registry.record import JobRecord
from trn.registry.store import Registry


def _redis_events(server, job_id: str) -> list[str]:
    """The job's event names in the Redis stream, de-duplicated by id (as a consumer does)."""
    seen, names = set(), []
    for _, fields in server.client().xrange("trn:events"):
        event = json.loads(fields["data"])
        if event.get("job_id") == job_id and event["id"] not in seen:
            seen.add(event["id"])
            names.append(event["event"])
    return names


def _manifest(home: Path, job_id: str) -> list[dict]:
    path = home / "jobs" / "index.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["job_id"] == job_id]


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


def _submitted(home: Path, overrides: list[str]) -> JobRecord:
    """A job as a supervisor submits it (job dir, config.yaml, record, job_submitted), whose
    supervisor then died while the job was running."""
    record = Supervisor.create(make_plan([*FAST, *overrides], home=home)).hand_off()
    record.state, record.pid, record.started_at = "running", _dead_pid(), record.created_at
    Registry(home).write(record)
    return record


def _sinks(tmp_path: Path, redis_server) -> list[str]:
    return [f"events.redis.url={redis_server.url}", f"events.file={tmp_path / 'more.jsonl'}"]


@pytest.mark.redis
def test_the_reaper_ends_a_job_with_its_runners_outcome_in_every_sink_once(
    trn_home, tmp_path, redis_server
):
    record = _submitted(trn_home, _sinks(tmp_path, redis_server))
    job_dir = JobDir(record.job_dir)
    meta = str(job_dir.checkpoints / "e000-s0000004-end.meta.json")
    outcome = {"state": "completed", "metrics": {"val/acc": 0.75}, "checkpoint": meta, "step": 4}
    job_dir.outcome.write_text(json.dumps(outcome))  # the runner finished, then the kill
    submitted = tmp_path / "0.job"
    submitted.write_text(json.dumps(record.to_dict()))

    reap(submitted, -signal.SIGKILL, cancelled=False)

    final = Registry.read(job_dir.path)
    assert final["state"] == "completed" and final["error"] is None
    assert final["metrics"] == {"val/acc": 0.75} and final["checkpoint"] == meta
    events = validate_file(job_dir.events)
    assert [e["event"] for e in events] == ["job_submitted", "job_completed"]
    assert events[-1]["checkpoint"] == meta and events[-1]["source"] == "launcher"
    assert _redis_events(redis_server, record.job_id) == ["job_submitted", "job_completed"]
    assert [e["event"] for e in read_events(tmp_path / "more.jsonl")][-1] == "job_completed"
    assert [e["event"] for e in read_events(trn_home / "events.jsonl")][-1] == "job_completed"
    assert [r["state"] for r in _manifest(trn_home, record.job_id)] == ["completed"]

    reap(submitted, -signal.SIGKILL, cancelled=False)  # a second end changes nothing
    end_job(JobRecord.from_dict(final), "failed", reason="a late second ender")
    assert Registry.read(job_dir.path) == final
    assert len(read_events(job_dir.events)) == 2
    assert _redis_events(redis_server, record.job_id) == ["job_submitted", "job_completed"]
    assert len(_manifest(trn_home, record.job_id)) == 1


# A runner that, asked to stop, saves and says so: what trn.runner does on SIGTERM.
FAKE_RUNNER = """
import json, signal, sys, time
def stop(signum, frame):
    json.dump({"state": "preempted", "reason": "received SIGTERM", "metrics": {"loss": 0.5},
               "checkpoint": sys.argv[2]}, open(sys.argv[1], "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("training", flush=True)
time.sleep(120)
"""


def test_the_reaper_stops_a_live_runner_with_a_checkpoint_not_a_kill(trn_home, tmp_path):
    record = _submitted(trn_home, [])
    job_dir = JobDir(record.job_dir)
    runner = subprocess.Popen(
        [sys.executable, "-c", FAKE_RUNNER, str(job_dir.outcome), "ckpt.meta.json"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert runner.stdout is not None and runner.stdout.readline() == "training\n"
    record.runner_pid = runner.pid
    Registry(trn_home).write(record)
    submitted = tmp_path / "0.job"
    submitted.write_text(json.dumps(record.to_dict()))

    reap(submitted, -signal.SIGKILL, cancelled=False)

    assert runner.wait(timeout=PATIENCE) == 0  # it exited on its own, after saving
    final = Registry.read(job_dir.path)
    assert final["state"] == "preempted" and final["checkpoint"] == "ckpt.meta.json"
    assert final["error"] == "received SIGTERM" and final["metrics"] == {"loss": 0.5}
    assert validate_file(job_dir.events)[-1]["event"] == "job_preempted"
    assert [r["state"] for r in _manifest(trn_home, record.job_id)] == ["preempted"]


def test_the_reaper_without_an_outcome_says_why_the_job_failed(trn_home, tmp_path):
    record = _submitted(trn_home, [])
    submitted = tmp_path / "0.job"
    submitted.write_text(json.dumps(record.to_dict()))
    reap(submitted, -signal.SIGKILL, cancelled=False)
    final = Registry.read(Path(record.job_dir))
    assert final["state"] == "failed"
    assert final["error"] == "its supervisor exited (-9) before the job ended"
    failed = validate_file(JobDir(record.job_dir).events)[-1]
    assert failed["event"] == "job_failed" and failed["exit_code"] == -1
    assert len(_manifest(trn_home, record.job_id)) == 1


@pytest.mark.redis
def test_cancel_of_a_lost_job_ends_it_in_its_own_sinks_only(trn_home, tmp_path, redis_server):
    from trn.lifecycle.cancel import request_job

    record = _submitted(trn_home, [*_sinks(tmp_path, redis_server), "events.global=false"])
    assert request_job(Registry(trn_home), record) is False  # lost: ended here
    final = Registry.read(Path(record.job_dir))
    assert final["state"] == "cancelled" and "supervisor was lost" in final["error"]
    assert _redis_events(redis_server, record.job_id) == ["job_submitted", "job_cancelled"]
    assert [e["event"] for e in read_events(tmp_path / "more.jsonl")][-1] == "job_cancelled"
    assert not (trn_home / "events.jsonl").exists()  # events.global=false: not there either
    assert [r["state"] for r in _manifest(trn_home, record.job_id)] == ["cancelled"]


@pytest.mark.redis
def test_a_job_slurm_dropped_is_ended_with_its_manifest_line_and_event(
    trn_home, tmp_path, redis_server
):
    from trn.lifecycle.backends.slurm import Submitted
    from trn.lifecycle.backends.slurm.launch import SweepSlurmJob, final_record

    record = _submitted(trn_home, _sinks(tmp_path, redis_server))
    record.backend, record.pid, record.extra["slurm_job_id"] = "slurm", None, "4242"
    Registry(trn_home).write(record)
    # what submitit's Job shows of a job that left the queue without a result
    paths = SimpleNamespace(result_pickle=tmp_path / "none.pkl", stderr=tmp_path / "4242.err")
    job = SweepSlurmJob(1, [], Submitted(record, SimpleNamespace(paths=paths)))
    final = final_record(job)
    assert final["state"] == "failed" and "ended without a result" in final["error"]
    assert _redis_events(redis_server, record.job_id) == ["job_submitted", "job_failed"]
    assert [r["state"] for r in _manifest(trn_home, record.job_id)] == ["failed"]


@pytest.mark.redis
def test_the_supervisor_ends_its_job_through_the_same_path(trn_home, tmp_path, redis_server):
    sup = Supervisor.create(make_plan([*FAST, *_sinks(tmp_path, redis_server)], home=trn_home))
    result = sup.run()
    assert result["state"] == "completed"
    names = _redis_events(redis_server, result["job_id"])
    assert names[0] == "job_submitted" and names[-1] == "job_completed"
    assert names.count("job_completed") == 1
    assert [r["state"] for r in _manifest(trn_home, result["job_id"])] == ["completed"]
    launch = json.loads(JobDir(result["job_dir"]).launch.read_text())
    assert launch["allocation"]["device_ids"] == result["devices"]


def test_a_record_ended_just_now_waits_for_its_terminal_event(trn_home):
    from trn.lifecycle.end import settled

    record = _submitted(trn_home, [])
    ended = replace(record, state="completed", ended_at=JobRecord("x", "y").created_at)
    assert not settled(ended)  # the record says ended; its job_completed is not written yet
    assert settled(replace(ended, ended_at="2026-01-01T00:00:00.000Z"))  # its ender died since
    end_job(record, "completed", outcome=Outcome("completed"))
    assert settled(Registry.load(Path(record.job_dir)))


# -- whole sweeps, with real signals ---------------------------------------------------------
def _running_record(home: Path) -> dict | None:
    if not (home / "runs").exists():
        return None
    running = Registry(home).list(state="running", limit=None)
    return running[0].to_dict() if running and running[0].runner_pid else None


@pytest.mark.slow
@pytest.mark.redis
def test_a_sweep_job_whose_supervisor_is_sigkilled_is_ended_in_redis_and_the_manifest(
    trn_home, redis_server
):
    long = ["trainer.max_epochs=200", "trainer.limit_train_batches=50"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "-m", *FAST, *long, "seed=1",
         f"events.redis.url={redis_server.url}", "events.metrics_every_n_steps=1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TRN_HOME": str(trn_home)},
    )  # fmt: skip
    try:
        record = wait_until(
            lambda: (
                (r := _running_record(trn_home))
                and '"event":"metrics"' in JobDir(r["job_dir"]).events.read_text()
                and r
            ),
            "the job to train",
        )
        os.kill(record["pid"], signal.SIGKILL)  # its supervisor, and only it
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        proc.kill()
    final = Registry.read(Path(record["job_dir"]))
    assert final["state"] == "preempted", (final, err)  # stopped with a checkpoint, not lost
    assert final["checkpoint"] and Path(final["checkpoint"]).exists()
    assert _redis_events(redis_server, record["job_id"])[-1] == "job_preempted"
    assert [r["state"] for r in _manifest(trn_home, record["job_id"])] == ["preempted"]
    # gone (an orphan nobody reaps may linger as a zombie: dead all the same)
    assert not alive(record["runner_pid"])
    resumed = run_trn("resume", record["job_id"], "--dry-run", "--json")
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["attempt"] == 2


@pytest.mark.slow
def test_a_detached_sweep_job_killed_after_its_runner_completed_is_completed(trn_home):
    proc = run_trn("run", "-m", "--detach", "--json", *FAST, "trainer.max_epochs=2", "seed=1")
    assert proc.returncode == 0, proc.stderr
    sweep = json.loads(proc.stdout)
    record = wait_until(lambda: _running_record(trn_home), "the job to start")
    os.kill(record["pid"], signal.SIGSTOP)  # the supervisor freezes; its runner trains on
    outcome = JobDir(record["job_dir"]).outcome
    wait_until(outcome.exists, "the runner to finish")
    assert json.loads(outcome.read_text())["state"] == "completed"
    os.kill(record["pid"], signal.SIGKILL)
    summary_file = Path(sweep["sweep_dir"]) / "summary.json"
    wait_until(summary_file.exists, "the sweep to end")
    final = Registry.read(Path(record["job_dir"]))
    assert final["state"] == "completed" and final["checkpoint"], final
    assert json.loads(summary_file.read_text())["counts"] == {"completed": 1}
    assert validate_file(JobDir(record["job_dir"]).events)[-1]["event"] == "job_completed"
    assert [r["state"] for r in _manifest(trn_home, record["job_id"])] == ["completed"]
    resumed = run_trn("resume", record["job_id"])  # completed: nothing left to train
    assert resumed.returncode == 2 and "has trained all 2 epochs" in resumed.stderr
