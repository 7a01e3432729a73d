"""Notifications: a real local HTTP server gets a real job's terminal event; a command gets it on
stdin; a webhook that hangs or fails costs at most the timeout and never fails the job."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FAST, read_events, run_trn

from trn.lifecycle import notify


class Hook:
    """``http.server`` on a free 127.0.0.1 port: records each POST, answers ``status`` after
    ``delay_s``."""

    def __init__(self, status: int = 200, delay_s: float = 0.0):
        self.posts: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append((self.path, json.loads(body)))
                time.sleep(delay_s)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    made = []

    def make(**kwargs) -> Hook:
        made.append(Hook(**kwargs))
        return made[-1]

    yield make
    for h in made:
        h.close()


def _catcher(tmp_path: Path) -> tuple[str, Path]:
    """A command that writes its stdin to a file, and the file."""
    script, out = tmp_path / "catch.py", tmp_path / "caught.json"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write(sys.stdin.read())\n")
    return f"{sys.executable} {script} {out}", out


@pytest.mark.slow
def test_a_real_job_posts_its_terminal_event_and_runs_the_command(trn_home, tmp_path, hook):
    server = hook()
    command, caught = _catcher(tmp_path)
    env = {"TRN_HOME": str(trn_home), "TRN_TEST_HOOK": server.url + "?token=sekrit"}
    proc = run_trn(
        "run",
        "--json",
        *FAST,
        "notify.webhook_env=TRN_TEST_HOOK",
        f"notify.command='{command}'",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and not record["warnings"]
    assert len(server.posts) == 1
    path, event = server.posts[0]
    assert path == "/hook?token=sekrit"
    assert event["event"] == "job_completed" and event["job_id"] == record["job_id"]
    assert event == read_events(Path(record["job_dir"]) / "events.jsonl")[-1]
    assert json.loads(caught.read_text()) == event
    assert "sekrit" not in (Path(record["job_dir"]) / "config.yaml").read_text()


@pytest.mark.slow
def test_a_failing_webhook_is_a_warning_and_the_job_stays_completed(trn_home, hook):
    server = hook(status=500)
    env = {"TRN_HOME": str(trn_home)}
    proc = run_trn(
        "run",
        "--json",
        *FAST,
        f"notify.webhook={server.url}",
        "notify.retries=2",
        "notify.timeout_s=10",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "completed"
    assert len(server.posts) == 3  # the first try and two more
    assert any("HTTP 500" in w for w in record["warnings"])
    on_disk = json.loads((Path(record["job_dir"]) / "job.json").read_text())
    assert on_disk["state"] == "completed" and on_disk["warnings"] == record["warnings"]
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    assert [e["event"] for e in events[-2:]] == ["job_completed", "warning"]


def test_a_hanging_webhook_costs_at_most_the_timeout(hook):
    server = hook(delay_s=300)
    event = {"event": "job_failed", "job_id": "x"}
    started = time.monotonic()
    problem = notify.send(
        {"webhook": server.url + "?token=sekrit", "timeout_s": 5, "retries": 3}, event
    )
    # one timeout, not one per retry (>= 10 s) nor the server's delay: a hung endpoint is not
    # retried; the 5 s of slack are a busy machine's scheduling
    assert time.monotonic() - started < 5 + 5
    assert problem and f"notify webhook {server.url} failed" in problem and "sekrit" not in problem
    assert server.posts  # it was tried


def test_a_hanging_command_is_killed_at_the_timeout(tmp_path):
    started = time.monotonic()
    problem = notify.send(
        {"command": f"{sys.executable} -c 'import time; time.sleep(600)'", "timeout_s": 1},
        {"event": "job_completed"},
    )
    assert time.monotonic() - started < 300  # killed, not waited for
    assert problem and "killed" in problem


def test_filters_and_sweeps(tmp_path, hook):
    server = hook()
    command, caught = _catcher(tmp_path)
    only_failed = {"webhook": server.url, "command": command, "on": ["failed"]}
    assert notify.send(only_failed, {"event": "job_completed"}) is None
    assert not server.posts and not caught.exists()
    assert notify.send(only_failed, {"event": "sweep_completed", "state": "failed"}) is None
    assert server.posts[0][1]["state"] == "failed"
    assert json.loads(caught.read_text())["event"] == "sweep_completed"
    assert notify.send({}, {"event": "job_failed"}) is None  # off by default
    assert "could not run" in notify.send({"command": "/no/such/tool"}, {"event": "job_failed"})


@pytest.mark.slow
def test_a_sweep_tells_of_each_job_and_of_its_own_end(trn_home, hook):
    server = hook()
    proc = run_trn(
        "run",
        "-m",
        *FAST,
        "seed=1,2",
        f"notify.webhook={server.url}",
        "notify.on=[completed]",
        env={"TRN_HOME": str(trn_home)},
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(event["event"] for _, event in server.posts)
    assert names == ["job_completed", "job_completed", "sweep_completed"]
    sweep = next(e for _, e in server.posts if e["event"] == "sweep_completed")
    assert sweep["state"] == "completed" and sweep["jobs"] == 2


def test_cancelling_a_lost_sweep_tells_of_its_end_as_the_sweep_would_have(trn_home, hook):
    import subprocess

    import yaml

    from trn.registry.record import JobRecord
    from trn.registry.store import Registry
    from trn.registry.sweeps import record_process, sweep_events

    server = hook()
    dead = subprocess.Popen(["true"])
    dead.wait()
    sweep_id = "261128-120000-swnt"
    sweep_dir = trn_home / "sweeps" / "2026" / "11" / "28" / sweep_id
    sweep_dir.mkdir(parents=True)
    record_process(sweep_dir, sweep_id, 2, pid=dead.pid)  # its process is gone
    events = sweep_events(sweep_dir, sweep_id, trn_home)
    events.emit("sweep_started", sweep_dir=str(sweep_dir), overrides=["seed=1,2"], jobs=2,
                sweeper="basic", objective={"metric": "val/acc", "mode": "max"})  # fmt: skip
    events.close()
    job_id = "261128-120001-swn1"
    job_dir = trn_home / "runs" / "2026" / "11" / "28" / job_id
    job_dir.mkdir(parents=True)
    config = {"notify": {"webhook": server.url, "on": ["cancelled"], "timeout_s": 10}}
    (job_dir / "config.yaml").write_text(yaml.safe_dump(config))
    record = JobRecord(job_id=job_id, job_dir=str(job_dir), state="running", sweep_id=sweep_id)
    record.pid = dead.pid  # its supervisor is gone too
    Registry(trn_home).write(record)

    proc = run_trn("cancel", sweep_id)
    assert proc.returncode == 0, proc.stderr
    posted = {event["event"]: event for _, event in server.posts}
    assert sorted(posted) == ["job_cancelled", "sweep_completed"]
    assert posted["sweep_completed"] == read_events(sweep_dir / "events.jsonl")[-1]
    assert posted["sweep_completed"]["state"] == "cancelled"
    assert posted["job_cancelled"]["job_id"] == job_id
