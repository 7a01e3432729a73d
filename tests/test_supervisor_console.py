"""A console that does not take ``trn run``'s lines never holds up the job: a reader that went
away (``trn run | head``) or a pipe nobody reads. The job is kept, stopped and ended as ever."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import FAST, PATIENCE, ROOT, read_events, wait_until

from trn.lifecycle.echo import Echo
from trn.lifecycle.end import settled
from trn.registry.store import Registry

LONG = [*FAST, "trainer.max_epochs=1000", "trainer.limit_train_batches=20"]


def only_job(home: Path) -> dict:
    def created() -> dict | None:
        jobs = (home / "runs").exists() and Registry(home).list(limit=None)
        return jobs[0].to_dict() if jobs else None

    return wait_until(created, "a job created")


def test_the_job_completes_when_the_reader_of_its_output_goes_away(trn_home):
    """As ``trn run ... 2>&1 | head -3``: the lines after the third have nowhere to go."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", *FAST, "trainer.max_epochs=20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    head = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()
    assert proc.wait(timeout=PATIENCE) == 0
    assert b"job_submitted" in head[0]
    record = Registry.read(Path(only_job(trn_home)["job_dir"]))
    assert record["state"] == "completed", record.get("error")
    assert read_events(Path(record["job_dir"]) / "events.jsonl")[-1]["event"] == "job_completed"


def test_a_pipe_nobody_reads_neither_stalls_the_record_nor_the_cancel(trn_home):
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", *LONG, "events.metrics_every_n_steps=1"],
        stdout=subprocess.PIPE,  # never read while the job runs: it fills after ~400 lines
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        job_dir = Path(only_job(trn_home)["job_dir"])
        events = job_dir / "events.jsonl"
        wait_until(lambda: events.read_text().count('"metrics"') > 3000, "3000 steps")
        # the supervisor keeps the record: it has seen a checkpoint or a heartbeat by now
        wait_until(lambda: Registry.read(job_dir).get("heartbeat_at"), "a heartbeat recorded")
        proc.send_signal(signal.SIGINT)
        record = wait_until(  # the record, and then its terminal event: the job has settled
            lambda: (r := Registry.load(job_dir)).state != "running" and settled(r) and r,
            "the job ended after Ctrl-C, its output still unread",
        )
        assert record.state == "cancelled", record
        assert read_events(events)[-1]["event"] == "job_cancelled"
    finally:
        out, _ = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 130  # Ctrl-C ends `trn run` as the shell expects of SIGINT
    assert b"job_cancelled" in out or b"events not shown" in out


def test_echo_drops_what_a_stuck_console_cannot_take_and_says_so():
    entered, release, shown = threading.Event(), threading.Event(), []

    def stuck(event: dict) -> None:
        entered.set()
        release.wait()
        shown.append(event["event"])

    echo = Echo(stuck, limit=3)
    echo({"event": "e0"})
    assert entered.wait(PATIENCE)  # the thread is stuck showing the first
    for n in range(1, 10):  # three wait, six are dropped
        echo({"event": f"e{n}"})
    release.set()
    echo.close()
    assert shown == ["e0", "warning", "e1", "e2", "e3"]
    echo({"event": "after"})  # after close: shown inline
    assert shown[-1] == "after"


def test_echo_stops_showing_when_its_console_breaks():
    calls = []

    def broken(event: dict) -> None:
        calls.append(event)
        raise BrokenPipeError(32, "Broken pipe")

    echo = Echo(broken)
    for n in range(5):
        echo({"event": f"e{n}"})
    echo.close()
    assert len(calls) == 1 and echo.failed
    assert json.dumps(calls[0]) == '{"event": "e0"}'
