"""The files one trn process writes for another (trn/handoff.py): each round-trips through its
dataclass, what the writers write validates against its schema in trn/schemas/, a file of the
previous trn still reads, and a torn or foreign one is one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import FAST, run_trn

from trn.devices import Allocation
from trn.handoff import (
    LAUNCH_SCHEMA,
    OUTCOME_SCHEMA,
    SWEEP_JOB,
    SWEEP_JOB_SCHEMA,
    SWEEP_REQUEST_SCHEMA,
    BadFile,
    Launch,
    Outcome,
    SweepJobSpec,
    SweepRequest,
    job_command,
    schema,
)
from trn.jobdir import JobDir

FULL = Outcome(
    "completed",
    reason="EarlyStopping stopped it at epoch 3",
    step=120,
    metrics={"val/loss": 0.25, "test/acc": 0.9},
    checkpoint="/h/runs/2026/12/07/j/checkpoints/epoch=2-step=120.meta.json",
    tested="/h/runs/2026/12/07/j/checkpoints/epoch=2-step=120.ckpt",
    resume_exact=True,
    objective={"metric": "val/loss", "mode": "min", "source": "config"},
    mlflow_run_id="abc123",
    mlflow_status="FINISHED",
)
# the three shapes the runner and the supervisor wrote before Outcome existed, as they wrote them
OLD_SHAPES = [
    {
        "metrics": {"val/loss": 0.5},
        "step": 8,
        "checkpoint": "/h/j/checkpoints/a.meta.json",
        "resume_exact": True,
        "objective": {"metric": "val/loss", "mode": "min", "source": "default"},
        "state": "completed",
        "reason": None,
        "tested": "/h/j/checkpoints/a.ckpt",
        "mlflow_run_id": "r1",
        "mlflow_status": "FINISHED",
    },
    {"state": "failed", "error": "ValueError: no", "traceback": "Traceback ...", "step": None},
    {"state": "cancelled", "reason": "received SIGINT before the runner started"},
    {"state": "pruned", "reason": "behind at rung 1", "pruned": {"rung": 1}, "metrics": {}},
]


def test_an_outcome_round_trips_and_its_json_validates():
    for outcome in (FULL, Outcome("failed", error="RuntimeError: x", traceback="tb", step=3)):
        text = outcome.to_json()
        jsonschema.validate(json.loads(text), schema(OUTCOME_SCHEMA))
        assert Outcome.from_json(text) == outcome


@pytest.mark.parametrize("old", OLD_SHAPES, ids=lambda o: o["state"])
def test_an_outcome_json_of_the_previous_version_still_reads(old):
    outcome = Outcome.from_json(json.dumps(old))
    for key, value in old.items():
        assert getattr(outcome, key) == value
    jsonschema.validate(json.loads(outcome.to_json()), schema(OUTCOME_SCHEMA))


def test_an_outcome_states_are_the_terminal_states():
    from trn.registry.record import TERMINAL

    assert set(schema(OUTCOME_SCHEMA)["properties"]["state"]["enum"]) == set(TERMINAL)


def test_keys_of_a_newer_trn_are_ignored():
    assert Outcome.from_json('{"state": "completed", "gpu_hours": 2.5}') == Outcome("completed")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "is not of type 'object'"),
        ('{"metrics": {}}', "'state' is a required property"),
        ('{"state": "exploded"}', "state: 'exploded' is not one of"),
        ('{"state": "failed", "step": "ten"}', "step: 'ten' is not of type"),
        ('{"state": "completed", "metrics": {"loss": "low"}}', "metrics/loss: 'low'"),
    ],
)
def test_a_foreign_outcome_is_one_line_naming_the_file_and_the_field(text, says):
    with pytest.raises(BadFile) as err:
        Outcome.from_json(text, "/h/j/outcome.json")
    message = str(err.value)
    assert message.startswith("/h/j/outcome.json: ") and says in message
    assert "\n" not in message


def test_a_job_dir_with_a_foreign_outcome_reads_as_none_said_on_one_line(tmp_path, capsys):
    job_dir = JobDir(tmp_path)
    assert job_dir.read_outcome() is None  # none written: nothing said
    assert capsys.readouterr().err == ""
    job_dir.outcome.write_text('{"status": "ok"}')
    assert job_dir.read_outcome() is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outcome.json" in err and "'state' is a required" in err
    job_dir.outcome.write_text(FULL.to_json())
    assert job_dir.read_outcome() == FULL


def test_a_launch_round_trips_and_reads_the_shape_the_supervisor_always_wrote():
    allocation = Allocation(
        accelerator="gpu",
        devices=[0, 1],
        strategy="ddp",
        device_ids=["GPU-a", "GPU-b"],
        env={"CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b", "OMP_NUM_THREADS": "4"},
        labels=["cuda:0", "cuda:1"],
        threads={"count": 4, "why": "8 cores over 2 processes"},
    )
    launch = Launch(allocation.to_dict(), allocation.trainer_kwargs())
    text = launch.to_json()
    jsonschema.validate(json.loads(text), schema(LAUNCH_SCHEMA))
    assert Launch.from_json(text) == launch and launch.device_ids == ["GPU-a", "GPU-b"]
    # the previous supervisor's literal: {"allocation": {**to_dict(), "trainer": trainer_kwargs()}}
    old = {"allocation": {**allocation.to_dict(), "trainer": allocation.trainer_kwargs()}}
    assert json.loads(text) == old
    assert Launch.from_json(json.dumps(old)) == launch


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not JSON"),
        ('{"devices": 1}', "'allocation' is a required property"),
        ('{"allocation": {"device_ids": ["cpu"]}}', "allocation: 'trainer' is a required"),
        ('{"allocation": {"device_ids": [0], "trainer": {}}}', "allocation/"),
        ('{"allocation": {"device_ids": "cpu", "trainer": {}}}', "allocation/"),
    ],
)
def test_a_foreign_launch_is_one_line_naming_the_file_and_the_field(text, says):
    with pytest.raises(BadFile) as err:
        Launch.from_json(text, "/h/j/launch.json")
    assert str(err.value).startswith("/h/j/launch.json: ") and says in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_the_supervisor_and_runner_write_files_that_validate(trn_home):
    proc = run_trn("run", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    written = json.loads((Path(record["job_dir"]) / JobDir.OUTCOME).read_text())
    jsonschema.validate(written, schema(OUTCOME_SCHEMA))
    outcome = JobDir(record["job_dir"]).read_outcome()
    assert outcome is not None and outcome.state == "completed" and outcome.step
    assert outcome.metrics and outcome.checkpoint == record["checkpoint"]
    launch = json.loads((Path(record["job_dir"]) / JobDir.LAUNCH).read_text())
    jsonschema.validate(launch, schema(LAUNCH_SCHEMA))
    assert Launch.from_json(json.dumps(launch)).device_ids == record["devices"] == ["cpu"]


def test_a_runner_given_a_foreign_launch_says_so_in_one_line(tmp_path):
    job_dir = JobDir(tmp_path)
    job_dir.config.write_text("seed: 0\n")
    job_dir.record.write_text('{"job_id": "j"}')
    job_dir.launch.write_text('{"allocation": {"device_ids": ["cpu"]}}')
    proc = subprocess.run(
        [sys.executable, "-m", "trn.runner", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == f"trn: {job_dir.launch}: allocation: 'trainer' is a required property\n"
    assert not job_dir.outcome.exists()


def test_a_sweep_job_spec_round_trips_and_validates():
    spec = SweepJobSpec(
        overrides=["optimizer.lr=1e-3", "seed=2"],
        result="/tmp/x/3.result",
        submitted="/tmp/x/3.job",
        sweep_id="261207-1200-abcd",
        home="/h",
        num=3,
        point=1,
        stderr=True,
        plan="/tmp/x/3.plan.json",
    )
    text = spec.to_json()
    jsonschema.validate(json.loads(text), schema(SWEEP_JOB_SCHEMA))
    assert SweepJobSpec.from_json(text) == spec


def test_a_sweep_job_given_a_foreign_spec_says_so_in_one_line(tmp_path):
    path = tmp_path / "0.json"
    path.write_text('{"overrides": "seed=1", "result": "r", "submitted": "s"}')
    proc = subprocess.run(
        job_command(SWEEP_JOB, path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"trn: {path}: overrides: 'seed=1' is not of type 'array'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.json"]  # no result, no record


def test_a_sweep_request_round_trips_validates_and_reads_the_previous_shape():
    request = SweepRequest("261207-1200-abcd", ["seed=1,2"], "/h", True, {"force": True})
    text = request.to_json()
    jsonschema.validate(json.loads(text), schema(SWEEP_REQUEST_SCHEMA))
    assert SweepRequest.from_json(text) == request
    # the previous version wrote asdict() of a dataclass with these fields, in this order
    old = {"sweep_id": "s", "overrides": [], "home": "/h", "fail_fast": False, "resume": None}
    assert SweepRequest.from_json(json.dumps(old)) == SweepRequest("s", [], "/h")
    with pytest.raises(BadFile, match=r"^/h/request.json: 'home' is a required property$"):
        SweepRequest.from_json('{"sweep_id": "s", "overrides": []}', "/h/request.json")
