"""``logger=mlflow``: real jobs logging to a real MLflow store (sqlite), read back with MLflow's
own client: the metrics trn emits, how each job ends (FINISHED, FAILED, KILLED), a resume
logging on into its parent's run, and a tracking server that is not there."""

from __future__ import annotations

import json
import os
import signal
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import FAST, assert_series_close, free_port, read_events, run_trn, wait_until
from test_faults_support import Job

from trn.runner.tracking import end_run

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

# long enough to be stopped mid-way: a metrics event (and an MLflow batch) every step
LONG = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=200",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=1",
    "events.metrics_every_n_steps=1",
    "events.flush_s=0",
    "events.heartbeat_s=0",
    "logger=mlflow",
]


def client(home: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{home.resolve()}/mlflow.db")


def emitted(*job_dirs: Path) -> dict[str, list[tuple[int, float]]]:
    """Every metric the jobs emitted as ``metrics`` events: name -> sorted (step, value)."""
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for job_dir in job_dirs:
        for event in read_events(job_dir / "events.jsonl"):
            if event["event"] == "metrics":
                for key, value in event["metrics"].items():
                    out[key].append((event["step"], value))
    return {k: sorted(v) for k, v in out.items()}


def logged(mlflow_client: MlflowClient, run_id: str, keys) -> dict[str, list[tuple[int, float]]]:
    return {
        key: sorted((m.step, m.value) for m in mlflow_client.get_metric_history(run_id, key))
        for key in keys
    }


def record_config(job_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((job_dir / "config.yaml").read_text())


@pytest.mark.slow
def test_a_run_gets_the_metrics_trn_emits_the_config_and_the_job(trn_home):
    proc = run_trn("run", "--json", *FAST, "trainer.max_epochs=2", "name=mnist-mlp",
                   "logger=[csv,mlflow]")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    job_dir, run_id = Path(record["job_dir"]), record["mlflow_run_id"]
    assert run_id and not record["warnings"]
    started = [e for e in read_events(job_dir / "events.jsonl") if e["event"] == "job_started"]
    assert started[0]["mlflow_run_id"] == run_id

    mlflow_client = client(trn_home)
    run = mlflow_client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == record["job_id"]
    assert mlflow_client.get_experiment(run.info.experiment_id).name == "mnist-mlp"
    want = emitted(job_dir)
    assert {"train/loss", "val/acc", "lr"} <= want.keys()
    got = logged(mlflow_client, run_id, want)
    for key, pairs in want.items():
        assert_series_close(got[key], pairs, what=key)

    tags, params = run.data.tags, run.data.params
    assert tags["trn.job_id"] == record["job_id"] and tags["trn.attempt"] == "1"
    assert tags["trn.code.commit"] == record["code"]["commit"]
    assert tags["trn.code.dirty"] == str(record["code"]["dirty"])
    assert tags["mlflow.source.git.commit"] == record["code"]["commit"]
    assert params["optimizer.lr"] == str(record_config(job_dir)["optimizer"]["lr"])
    assert params["trainer.max_epochs"] == "2" and "logger.mlflow.tracking_uri" not in params
    # the other logger of the list got the same, with the commit among its hyperparameters
    hparams = (job_dir / "hparams.yaml").read_text()
    assert f"trn.code.commit: {record['code']['commit']}" in hparams
    status = run_trn("status", record["job_id"]).stdout.splitlines()
    assert f"mlflow_run_id: {run_id}" in status


@pytest.mark.slow
def test_a_non_finite_loss_ends_the_run_failed(trn_home):
    # lr=1e30: the first update makes the weights huge, the next forward overflows
    proc = run_trn("run", "--json", *FAST, "optimizer=sgd", "optimizer.lr=1e30", "logger=mlflow")
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["state"] == "failed" and "non-finite loss" in record["error"]
    assert client(trn_home).get_run(record["mlflow_run_id"]).info.status == "FAILED"


@pytest.mark.slow
def test_a_cancelled_job_is_killed_and_its_resume_logs_on_into_the_same_run(trn_home):
    first = Job(trn_home, "run", *LONG)
    first.wait_step(12)
    os.kill(first.proc.pid, signal.SIGINT)  # Ctrl-C
    parent = first.finish()
    assert parent["state"] == "cancelled", parent
    run_id = parent["mlflow_run_id"]
    mlflow_client = client(trn_home)
    assert mlflow_client.get_run(run_id).info.status == "KILLED"

    parent_dir = Path(parent["job_dir"])
    epoch = max(e["epoch"] for e in read_events(parent_dir / "events.jsonl") if "epoch" in e)
    second = Job(trn_home, "resume", parent["job_id"], f"trainer.max_epochs={epoch + 2}")
    child = second.finish()
    assert child["state"] == "completed", child
    assert child["mlflow_run_id"] == run_id and child["parent_job_id"] == parent["job_id"]

    run = mlflow_client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["trn.job_id"] == child["job_id"] and run.data.tags["trn.attempt"] == "2"
    assert run.data.params["trainer.max_epochs"] == "200"  # MLflow keeps a param's first value
    child_dir = Path(child["job_dir"])
    want = emitted(parent_dir, child_dir)
    got = logged(mlflow_client, run_id, want)
    assert got.keys() == want.keys()
    for key, pairs in want.items():
        assert_series_close(got[key], pairs, what=key)
    # one line: the child's steps take up where the parent's checkpoint left off
    parent_steps = [s for s, _ in emitted(parent_dir)["train/loss"]]
    child_steps = [s for s, _ in emitted(child_dir)["train/loss"]]
    assert parent_steps[0] == 1 and child_steps[0] > 1
    assert child_steps[0] <= parent_steps[-1] + 1 and child_steps[-1] > parent_steps[-1]


@pytest.mark.slow
def test_a_runner_killed_outright_has_its_run_ended_by_the_jobs_end(trn_home):
    job = Job(trn_home, "run", *LONG)
    job.wait_step(3)
    wait_until(lambda: job.record().get("mlflow_run_id"), "the run id in the record")
    os.killpg(job.record()["runner_pid"], signal.SIGKILL)  # it never gets to end its run
    record = job.finish()
    assert record["state"] == "failed" and "SIGKILL" in record["error"]
    assert client(trn_home).get_run(record["mlflow_run_id"]).info.status == "FAILED"


@pytest.mark.slow
def test_an_unreachable_tracking_server_is_one_warning_and_the_job_completes(trn_home):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_trn("run", "--json", *FAST, "logger=[csv,mlflow]",
                   f"logger.mlflow.tracking_uri={uri}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and record["mlflow_run_id"] is None
    assert len(record["warnings"]) == 1 and "logger mlflow failed" in record["warnings"][0]
    job_dir = Path(record["job_dir"])
    warnings = [e for e in read_events(job_dir / "events.jsonl") if e["event"] == "warning"]
    assert [w["message"] for w in warnings] == record["warnings"]
    status = run_trn("status", record["job_id"], "--json")
    assert json.loads(status.stdout)["warnings"] == record["warnings"]
    assert (job_dir / "metrics.csv").exists()  # the other logger went on


def test_the_jobs_end_ends_a_run_left_running_and_leaves_an_ended_one(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow_client = MlflowClient(uri)
    experiment = mlflow_client.create_experiment("trn")
    running = mlflow_client.create_run(experiment).info.run_id
    assert end_run(uri, running, "preempted") is None
    assert mlflow_client.get_run(running).info.status == "KILLED"
    assert end_run(uri, running, "failed") is None  # ended already: left as it was
    assert mlflow_client.get_run(running).info.status == "KILLED"
    assert end_run(uri, running, "cancelled", only_running=False) is None
    assert mlflow_client.get_run(running).info.status == "KILLED"
    assert end_run(uri, running, "failed", only_running=False) is None  # the runner was wrong
    assert mlflow_client.get_run(running).info.status == "FAILED"


def test_an_unreachable_server_at_the_jobs_end_is_one_line(monkeypatch):
    uri = f"http://user:sekrit@127.0.0.1:{free_port()}"
    problem = end_run(uri, "0123abcd", "failed")
    assert problem and problem.startswith("logger mlflow: ") and "\n" not in problem
    assert "0123abcd" in problem and "sekrit" not in problem


def test_a_parents_run_gone_from_the_store_makes_a_new_run_with_a_note(tmp_path):
    from trn.runner import tracking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    record = {"job_id": "261202-120000-chld", "mlflow_run_id": "0" * 32, "code": None}
    logger, notes = tracking.start(
        {"tracking_uri": uri}, {"name": None}, record, {"trn.attempt": 2}
    )
    assert logger.run_id != "0" * 32
    run = MlflowClient(uri).get_run(logger.run_id)
    assert run.info.run_name == record["job_id"] and run.data.tags["trn.attempt"] == "2"
    assert len(notes) == 1 and "0" * 32 in notes[0] and "a new run" in notes[0]
