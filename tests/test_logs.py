"""`trn logs` / `trn events` on job dirs written by a real EventWriter: lines, filters, follow."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
from conftest import PATIENCE, ROOT, wait_until

from trn.events.writer import EventWriter
from trn.registry.record import JobRecord
from trn.registry.store import Registry


def make_job(home, sweep_id=None, state="completed", n_steps=3) -> tuple[str, object]:
    registry = Registry(home)
    job_id, job_dir = registry.create_job_dir()
    record = JobRecord(
        job_id=job_id, job_dir=str(job_dir), state=state, sweep_id=sweep_id, pid=os.getpid()
    )
    registry.write(record)
    w = EventWriter(
        job_dir, job_id, source="runner", sweep_id=sweep_id, global_path=home / "events.jsonl"
    )
    w.emit("job_started", runner_pid=1, world_size=1, devices=["cpu"])
    for step in range(1, n_steps + 1):
        w.emit("metrics", phase="train", step=step, epoch=0, metrics={"train/loss": 1.0 / step})
        w.emit("heartbeat", step=step)
    if state == "completed":
        w.emit("job_completed", metrics={"val/acc": 0.9}, duration_s=1.5)
    w.close()
    (job_dir / "runner.log").write_text("".join(f"log line {i}\n" for i in range(5)))
    return job_id, job_dir


def test_logs_prints_readable_lines_and_raw_json(trn_home, cli):
    job_id, job_dir = make_job(trn_home)
    code, out, err = cli("logs", job_id[:15])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [ln.split()[1] for ln in lines] == ["job_started"] + ["metrics"] * 3 + ["job_completed"]
    assert "step 3 train/loss=0.3333" in lines[3]  # time, event, key numbers
    code, out, _ = cli("logs", job_id, "--json")
    assert out == (job_dir / "events.jsonl").read_text()  # raw lines, heartbeats included
    code, out, _ = cli("logs", job_id, "--log", "-n", "2")
    assert out == "log line 3\nlog line 4\n"


def test_logs_bad_and_unknown_ids_are_one_line_errors(trn_home, cli):
    make_job(trn_home)
    code, out, err = cli("logs", "Nope!")
    assert code == 2 and "invalid job id" in err and len(err.splitlines()) == 1
    code, out, err = cli("logs", "991231")
    assert code == 1 and "no job '991231'" in err and "Traceback" not in err


def test_logs_follow_stops_when_the_job_ends(trn_home):
    job_id, job_dir = make_job(trn_home, state="running", n_steps=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "logs", "-f", job_id],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    wait_until(lambda: "step 1" in proc.stdout.readline(), "the follower's lines of step 1")
    assert proc.poll() is None  # it showed what was there, and goes on following a running job
    w = EventWriter(job_dir, job_id, source="cli")
    w.emit("metrics", phase="train", step=7, epoch=0, metrics={"train/loss": 0.5})
    w.emit("job_completed", metrics={}, duration_s=2.0)
    registry = Registry(trn_home)
    registry.write(replace(registry.load(job_dir), state="completed"))
    out, _ = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0
    assert "step 7" in out and out.splitlines()[-1].split()[1] == "job_completed"


def test_events_filters_by_job_sweep_and_type(trn_home, cli):
    a, _ = make_job(trn_home, sweep_id="261128-000000-swp1")
    b, _ = make_job(trn_home)
    code, out, _ = cli("events", "--json")
    assert len(out.splitlines()) == 2 * 8
    code, out, _ = cli("events", "--job", b[:16], "--json")
    assert {json.loads(x)["job_id"] for x in out.splitlines()} == {b}
    code, out, _ = cli(
        "events", "--sweep", "261128-000000-swp1", "--event", "metrics,job_completed"
    )
    assert len(out.splitlines()) == 4 and all(x.startswith(a) for x in out.splitlines())
    code, out, _ = cli("events", "-n", "1")
    assert out.startswith(b) and "job_completed" in out
    code, out, _ = cli("events", "--event", "heartbeat", "--job", a)
    assert len(out.splitlines()) == 3  # heartbeats show when asked for


def test_events_rejects_an_unknown_type_naming_the_choices(trn_home, cli):
    code, out, err = cli("events", "--event", "metrics,nope")
    assert code == 2 and "unknown event type nope" in err and "job_completed" in err
    code, out, err = cli("events", "--job", "x/y")
    assert code == 2 and "invalid job id" in err


def test_events_follow_prints_new_matching_events_until_interrupted(trn_home):
    make_job(trn_home)  # before the follower: `-n 0` shows none of its events
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "events", "-f", "-n", "0", "--event", "warning"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    job_id, job_dir = make_job(trn_home, state="running", n_steps=1)
    writer = EventWriter(job_dir, job_id, source="cli", global_path=trn_home / "events.jsonl")

    def shown() -> str | None:
        # a warning written before the follower reached the end of the stream is (rightly) not
        # new to it: write one more each time until one shows
        writer.emit("warning", message="disk almost full")
        try:
            return lines.get(timeout=0.5)
        except queue.Empty:
            return None

    line = wait_until(shown, "a new warning shown by `trn events -f`")
    assert "disk almost full" in line and line.startswith(job_id)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=PATIENCE) == 0


@pytest.mark.parametrize("verb", [["logs", "JOB"], ["events", "--json"]])
def test_read_commands_do_not_import_torch_lightning_or_hydra(trn_home, verb):
    job_id, _ = make_job(trn_home)
    argv = [job_id if a == "JOB" else a for a in verb]
    code = (
        f"import sys; from trn.cli.main import main; main({argv!r}); "
        "bad = [m for m in ('torch', 'lightning', 'hydra', 'matplotlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
