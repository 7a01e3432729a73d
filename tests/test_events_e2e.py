"""Events of real `trn run` jobs: every sink, every line valid, Redis outages, the terminal view."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, PATIENCE, ROOT, free_port, run_trn, wait_until

from trn.events.schema import validate_file, validate_lines

pytestmark = pytest.mark.slow
CONTROL = {chr(c) for c in range(32)} - {"\n"}


def _record(stdout: str, home: Path) -> dict:
    job_dir = next(home.glob("runs/*/*/*/*/"))
    return json.loads((job_dir / "job.json").read_text())


def _redis_lines(server) -> list[str]:
    """The stream's event lines, de-duplicated by event id (what a consumer does)."""
    seen, lines = set(), []
    for _, fields in server.client().xrange("trn:events"):
        if fields["id"] not in seen:
            seen.add(fields["id"])
            lines.append(fields["data"])
    return lines


@pytest.mark.redis
def test_single_job_into_every_sink_with_every_line_valid(trn_home, tmp_path, redis_server):
    extra = tmp_path / "extra" / "training.jsonl"
    proc = run_trn(
        "run",
        *FAST,
        "trainer.max_epochs=5",  # long enough for heartbeats 0.1 s apart on any machine
        "trainer.limit_train_batches=12",
        "events.metrics_every_n_steps=1",
        "events.heartbeat_s=0.1",
        f"events.file={extra}",
        f"events.redis.url={redis_server.url}",
    )
    assert proc.returncode == 0, proc.stderr
    assert not CONTROL & set(proc.stdout)  # stdout is not a terminal: plain lines
    record = _record(proc.stdout, trn_home)
    job_file = Path(record["job_dir"]) / "events.jsonl"
    events = validate_file(job_file)
    names = [e["event"] for e in events]
    assert names[0] == "job_submitted" and names[-1] == "job_completed"
    assert "heartbeat" in names and record["heartbeat_at"] and record["heartbeat_s"] == 0.1
    assert names.count("metrics") >= 12 and "warning" not in names
    job_lines = job_file.read_text().splitlines()
    assert validate_file(trn_home / "events.jsonl") == events  # the global stream
    assert extra.read_text().splitlines() == job_lines  # events.file
    redis_lines = _redis_lines(redis_server)
    validate_lines(redis_lines, where="redis", gap_free=False)  # two senders, so any order
    assert sorted(redis_lines) == sorted(job_lines)


def test_stdout_mode_prints_only_event_lines_on_stdout(trn_home):
    proc = run_trn("run", *FAST, "events.stdout=true")
    assert proc.returncode == 0, proc.stderr
    record = _record(proc.stdout, trn_home)
    job_lines = (Path(record["job_dir"]) / "events.jsonl").read_text().splitlines()
    assert proc.stdout.splitlines() == job_lines
    assert "job_completed" in proc.stderr and f"job {record['job_id']} completed" in proc.stderr
    both = run_trn("run", "--json", *FAST, "events.stdout=true")
    assert both.returncode == 2 and "drop one of them" in both.stderr


def test_progress_bar_on_a_terminal(trn_home):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", *FAST, "events.metrics_every_n_steps=1"],
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=PATIENCE) == 0
    screen = b"".join(chunks).decode()
    assert "\r\x1b[2K" in screen and "epoch 1/1" in screen and " 4/4 " in screen  # redrawn
    assert "ETA" in screen and "completed in" in screen


def test_unreachable_redis_warns_once_and_the_job_completes(trn_home):
    url = f"redis://127.0.0.1:{free_port()}/0"
    proc = run_trn("run", "--json", *FAST, f"events.redis.url={url}")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "completed"
    assert len(record["warnings"]) == 1 and "unreachable" in record["warnings"][0]
    log = (Path(record["job_dir"]) / "runner.log").read_text()
    assert log.count("unreachable") == 1  # reported once, however many events were buffered
    events = validate_file(Path(record["job_dir"]) / "events.jsonl")
    warned = [e for e in events if e["event"] == "warning"]
    assert {e["source"] for e in warned} == {"runner", "cli"} and len(warned) == 2
    assert events[-1]["event"] == "job_completed"


@pytest.mark.redis
def test_redis_restart_in_the_middle_of_a_run_loses_no_event(trn_home, redis_server):
    argv = [
        sys.executable,
        "-m",
        "trn",
        "run",
        "profile=dev",
        "devices=cpu",
        "trainer.max_epochs=40",
        "trainer.limit_train_batches=1.0",  # ~900 steps, several seconds: it outlasts the outage
        "trainer.limit_val_batches=1",
        "events.metrics_every_n_steps=1",
        f"events.redis.url={redis_server.url}",
        "events.redis.backoff_max_s=0.5",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    job_file = _wait_for_file(trn_home, "events.jsonl", lambda t: t.count('"metrics"') >= 5)
    # A restart in the middle: the runner's sender has delivered to this Redis already (on a
    # loaded machine its first connect can lag the job file; a Redis never reached at all is the
    # unreachable-URL case, tested above, where the sink gives up at the end of the job).
    wait_until(lambda: redis_server.client().xlen("trn:events") >= 3, "events in Redis")
    redis_server.stop()
    # the runner keeps training and buffering meanwhile, until its sender finds Redis gone
    wait_until(lambda: "unreachable" in job_file.read_text(), "the outage noticed by the runner")
    n_during = job_file.read_text().count("\n")
    redis_server.start()
    out, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, err
    job_lines = job_file.read_text().splitlines()
    assert len(job_lines) > n_during  # the run went on after Redis came back
    assert sorted(_redis_lines(redis_server)) == sorted(job_lines)  # nothing lost
    record = json.loads((job_file.parent / "job.json").read_text())
    assert any("unreachable" in w for w in record["warnings"])


def _wait_for_file(home: Path, name: str, ready) -> Path:
    def found() -> Path | None:
        return next((p for p in home.glob(f"runs/*/*/*/*/{name}") if ready(p.read_text())), None)

    return wait_until(found, f"{name} ready under {home}")
