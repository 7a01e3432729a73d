"""The ``logger`` group: real Lightning loggers, read back with csv and TensorBoard's reader."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from conftest import FAST, assert_series_close, read_events, run_trn

pytestmark = pytest.mark.slow


def test_csv_and_tensorboard_get_the_epoch_metrics_trn_emits(trn_home):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = run_trn("run", "--json", *FAST, "trainer.max_epochs=2", "logger=[csv,tensorboard]")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    job_dir = Path(record["job_dir"])
    epochs = [
        e for e in read_events(job_dir / "events.jsonl")
        if e["event"] == "metrics" and e["phase"] == "epoch"
    ]  # fmt: skip
    want = [(e["step"], e["metrics"]["val/acc"]) for e in epochs]
    assert len(want) == 2

    with open(job_dir / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/acc")]
    assert_series_close([(int(r["step"]), float(r["val/acc"])) for r in rows], want, what="csv")

    acc = EventAccumulator(str(job_dir / "tensorboard"))
    acc.Reload()
    scalars = [(s.step, s.value) for s in acc.Scalars("val/acc")]
    assert_series_close(scalars, want, what="tensorboard")

    hparams = (job_dir / "hparams.yaml").read_text()
    assert f"trn.job_id: {record['job_id']}" in hparams and "optimizer.lr:" in hparams
    assert f"trn.code.commit: {record['code']['commit']}" in hparams
    from tensorboard.plugins.hparams import metadata

    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
    shown = metadata.parse_session_start_info_plugin_data(content).hparams
    assert shown["trn.code.commit"].string_value == record["code"]["commit"]
    assert shown["trn.job_id"].string_value == record["job_id"]


def test_no_logger_by_default_and_an_unknown_one_is_one_line(trn_home):
    proc = run_trn("run", "--dry-run", "logger=wandb")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "trn run: error: logger=wandb: no such option in group 'logger'; "
        "available: csv, mlflow, none, tensorboard"
    ]
    proc = run_trn("run", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    job_dir = Path(json.loads(proc.stdout)["job_dir"])
    assert not (job_dir / "metrics.csv").exists() and not (job_dir / "tensorboard").exists()


@pytest.mark.parametrize(
    ("logger", "modules"),
    [("tensorboard", ["tensorboard", "tensorboardX"]), ("mlflow", ["mlflow"])],
)
def test_a_logger_whose_package_is_missing_is_refused_before_any_job(
    trn_home, cli, monkeypatch, logger, modules
):
    for module in modules:  # what Python's import system reads as "not installed"
        monkeypatch.setitem(sys.modules, module, None)
    code, out, err = cli("run", *FAST, f"logger=[csv,{logger}]")
    assert code == 2 and not out
    assert err.strip().splitlines() == [
        f"trn run: error: logger={logger} needs the {modules[0]} package, which is not "
        f"installed here: pip install 'trn[{logger}]'"
    ]
    assert not (trn_home / "runs").exists()


def test_the_mlflow_tracking_uri_is_decided_when_the_job_is_planned(trn_home, cli, monkeypatch):
    pytest.importorskip("mlflow")

    def planned(*overrides: str) -> str:
        code, out, err = cli("run", "--dry-run", "--json", "logger=mlflow", *overrides)
        assert code == 0, err
        return json.loads(out)["config"]["logger"]["mlflow"]["tracking_uri"]

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert planned() == f"sqlite:///{trn_home.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert planned() == "http://mlflow.example:5000"
    elsewhere = "sqlite:////tmp/elsewhere.db"
    assert planned(f"logger.mlflow.tracking_uri={elsewhere}") == elsewhere
