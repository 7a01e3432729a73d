"""`trn run` end to end on CPU, as a user's shell runs it: record, files, events, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FAST, read_events, run_trn

from trn.events.schema import validate_event

pytestmark = pytest.mark.slow


def test_run_dev_profile_end_to_end(trn_home):
    proc = run_trn("run", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert record["state"] == "completed" and record["exit_code"] == 0
    assert record["attempt"] == 1 and record["parent_job_id"] is None
    job_dir = Path(record["job_dir"])
    assert job_dir.parent.parent.parent.parent == trn_home / "runs"
    assert json.loads((job_dir / "job.json").read_text()) == record

    config = yaml.safe_load((job_dir / "config.yaml").read_text())
    assert config["trainer"]["limit_train_batches"] == 4  # the resolved config it ran

    events = read_events(job_dir / "events.jsonl")
    for event in events:
        validate_event(event)
    assert events[0]["event"] == "job_submitted" and events[0]["devices"] == ["cpu"]
    assert events[-1]["event"] == "job_completed"
    assert [e["seq"] for e in events] == list(range(len(events)))
    names = [e["event"] for e in events]
    assert "job_started" in names and "metrics" in names and "checkpoint_saved" in names
    assert read_events(trn_home / "events.jsonl") == events  # the global stream

    meta_path = Path(record["checkpoint"])
    meta = json.loads(meta_path.read_text())
    ckpt = meta_path.parent / meta["ckpt"]
    assert ckpt.stat().st_size == meta["bytes"]
    assert meta["job_id"] == record["job_id"] and meta["config"] == config
    assert json.loads((meta_path.parent / "latest.json").read_text())["meta"] == meta_path.name
    assert "val/acc" in record["metrics"]

    manifest = (trn_home / "jobs" / "index.jsonl").read_text().splitlines()
    assert json.loads(manifest[-1])["job_id"] == record["job_id"]

    listed = run_trn("list", "--json")
    assert [r["job_id"] for r in json.loads(listed.stdout)] == [record["job_id"]]
    status = run_trn("status", record["job_id"][:16], "--json")
    assert json.loads(status.stdout)["state"] == "completed"


def test_runner_crash_leaves_a_failed_record_with_the_log_tail(trn_home, tmp_path):
    proc = run_trn("run", "--json", *FAST, "model.hidden=[0]")  # passes the schema? no: minimum 1
    assert proc.returncode == 2 and not (trn_home / "runs").exists()
    # A model argument it does not take is refused when the job is planned, too.
    proc = run_trn("run", "--json", *FAST, "+model.bogus_arg=1")
    assert proc.returncode == 2 and "takes no argument 'bogus_arg'" in proc.stderr
    assert not (trn_home / "runs").exists()
    # A max_time only Lightning can judge (planning checks it is a string) fails in the runner.
    proc = run_trn("run", "--json", *FAST, "trainer.max_time=forever")
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["state"] == "failed"
    assert "forever" in record["error"]
    assert record["extra"]["log_tail"]
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    assert events[-1]["event"] == "job_failed" and "forever" in events[-1]["error"]
    validate_event(events[-1])


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=nope"], "model=nope: no such option in group 'model'; available: mlp"),
        (["optimizer.foo=1"], "optimizer.foo: no key 'foo' in optimizer"),
        (["optimizer.lr=abc"], 'optimizer.lr="abc" is not a number'),
        (["data.path=???"], "data.path has no value"),
        (["x=="], "override 'x==' is not valid Hydra syntax"),
    ],
)
def test_bad_config_is_one_line_exit_2_and_leaves_nothing(trn_home, args, message):
    proc = run_trn("run", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not trn_home.exists() or not any(trn_home.rglob("job.json"))


@pytest.mark.parametrize("job", ["../etc", "a/b", "UPPER"])
def test_bad_job_ids_are_usage_errors(trn_home, job):
    proc = run_trn("status", job)
    assert (
        proc.returncode == 2 and "invalid job id" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_unknown_job_is_not_found(trn_home):
    proc = run_trn("status", "abc123")
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "no job 'abc123'" in proc.stderr


def test_dry_run_prints_the_plan_and_starts_nothing(trn_home):
    proc = run_trn("run", "--dry-run", "--json", "optimizer=sgd")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["config"]["optimizer"]["_target_"] == "torch.optim.SGD"
    assert plan["devices"] == ["cpu"]
    assert plan["command"][:3] == [sys.executable, "-m", "trn.runner"]
    assert not (trn_home / "runs").exists()  # (the dataset's checksum cache may be written)


def test_read_commands_do_not_import_torch(trn_home):
    code = (
        "import sys\nfrom trn.cli.main import main\n"
        "main(['list']); main(['reindex'])\n"
        "heavy = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = __import__("subprocess").run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_default_run_reaches_the_promised_accuracy(trn_home):
    """The README's promise: plain `trn run` trains the bundled digits to >= 0.95 on CPU."""
    proc = run_trn("run", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout)
    assert record["metrics"]["val/acc"] >= 0.95, record["metrics"]
    assert json.loads(Path(record["checkpoint"]).read_text())["metrics"]["val/acc"] >= 0.95
