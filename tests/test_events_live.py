"""Heartbeats and `lost`, the progress bar and plain lines of `trn run`."""

from __future__ import annotations

import io
import json
import time

from conftest import wait_until

from trn.cli.progress import JsonLines, PlainLines, make_echo
from trn.events.heartbeat import Heartbeat, stale_after
from trn.events.writer import EventWriter
from trn.registry.record import JobRecord, effective_state
from trn.registry.store import Registry


def test_heartbeat_thread_beats_until_stopped(tmp_path):
    w = EventWriter(tmp_path, "j1", source="runner")
    beat = Heartbeat(w.emit, 0.05, lambda: {"step": 3, "epoch": 0}).start()
    events_file = tmp_path / "events.jsonl"
    wait_until(lambda: events_file.exists() and events_file.read_text().count("\n") >= 3, "3 beats")
    beat.stop()
    n = len((tmp_path / "events.jsonl").read_text().splitlines())
    time.sleep(0.2)
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(events) == n >= 3 and {e["event"] for e in events} == {"heartbeat"}
    assert events[0]["step"] == 3 and [e["seq"] for e in events] == list(range(n))
    Heartbeat(w.emit, 0, dict).start().stop()  # 0: off, no thread


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def test_a_running_job_with_a_stale_heartbeat_is_lost():
    now = time.time()
    base = {"job_id": "j", "job_dir": "/d", "state": "running", "host": "elsewhere", "pid": 1}
    base["heartbeat_s"] = 10

    def shown(**fields: object) -> str:
        return effective_state(JobRecord.from_dict({**base, **fields}))

    assert shown(heartbeat_at=_iso(now - 5)) == "running"
    assert shown(heartbeat_at=_iso(now - stale_after(10) - 5)) == "lost"
    assert shown(heartbeat_at=None) == "running"  # none yet: not judged
    assert shown(heartbeat_s=None, heartbeat_at=_iso(0)) == "running"
    assert shown(state="completed", heartbeat_at=_iso(0)) == "completed"


def test_list_and_status_show_lost_for_a_stale_heartbeat(trn_home, cli):
    registry = Registry(trn_home)
    job_id, job_dir = registry.create_job_dir()
    import os

    registry.write(
        JobRecord(
            job_id=job_id,
            job_dir=str(job_dir),
            state="running",
            pid=os.getpid(),
            heartbeat_s=1,
            heartbeat_at=_iso(time.time() - 600),
        )
    )
    code, out, _ = cli("list", "--json")
    assert json.loads(out)[0]["state"] == "lost"
    code, out, _ = cli("status", job_id, "--json")
    assert json.loads(out)["state"] == "lost"
    code, out, _ = cli("list", "--state", "lost", "--json")
    assert [r["job_id"] for r in json.loads(out)] == [job_id]


def _events() -> list[dict]:
    base = {"ts": "2026-11-28T15:20:48.123Z", "job_id": "j1"}
    return [
        {**base, "event": "job_submitted", "devices": ["cpu"], "job_dir": "/x"},
        {**base, "event": "job_started", "max_epochs": 2, "total_steps": 100},
        {
            **base,
            "event": "metrics",
            "phase": "train",
            "step": 10,
            "epoch": 0,
            "metrics": {"train/loss": 2.0},
        },
        {**base, "event": "heartbeat", "step": 20, "epoch": 0},
        {
            **base,
            "event": "metrics",
            "phase": "train",
            "step": 50,
            "epoch": 1,
            "metrics": {"train/loss": 1.0},
        },
        {**base, "event": "job_failed", "error": "boom\nline two\x1b[31m", "exit_code": 1},
    ]


def test_plain_lines_have_no_control_characters_and_skip_heartbeats():
    out = io.StringIO()
    echo = PlainLines(out)
    for e in _events():
        echo(e)
    text = out.getvalue()
    assert len(text.splitlines()) == 5 and "heartbeat" not in text
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert isinstance(make_echo(io.StringIO()), PlainLines)  # not a terminal: no bar


def test_progress_line_shows_epoch_step_loss_and_eta():
    from trn.cli.console import render
    from trn.cli.console.state import JobState

    job = JobState({"metric": "val/acc", "mode": "max"})
    for i, e in enumerate(_events()[:5]):
        job.update({**e, "ts": f"2026-11-28T15:20:{10 + i:02d}.000Z"})  # one second apart
    last = render.stats(job)
    assert render.epochs(job) == "epoch 2/2" and last.startswith("50/100")
    assert "train/loss 1" in last and "ETA " in last and " it/s" in last
    assert "ETA ?" not in last  # two steps seen: a rate, so an estimate
    job.update(_events()[5])
    assert job.state == "failed"


def test_stdout_mode_prints_json_lines_and_the_human_view_elsewhere():
    out, human = io.StringIO(), io.StringIO()
    echo = JsonLines(out, PlainLines(human))
    for e in _events():
        echo(e)
    assert [json.loads(x) for x in out.getvalue().splitlines()] == _events()
    assert "job_started" in human.getvalue()
