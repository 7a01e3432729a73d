"""``task=regression``: MSE training of a plain nn.Module, its metrics, and the diabetes data."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import read_events, run_trn
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trn.runner.main import QUIET_TRAINER
from trn.runner.tasks import Regressor


def test_val_metrics_are_over_the_whole_split_not_averaged_per_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(70, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.3 * torch.randn(70, generator=g)
    model = nn.Linear(4, 1)
    module = Regressor(model, lambda p: torch.optim.SGD(p, lr=0.1), {"name": "none"})
    loader = DataLoader(TensorDataset(x, y), batch_size=16)  # batches of 16, 16, 16, 16, 6
    trainer = pl.Trainer(accelerator="cpu", **QUIET_TRAINER)
    [got] = trainer.validate(module, loader, verbose=False)
    with torch.no_grad():
        pred = model(x).squeeze(-1).numpy().astype(np.float64)
    err = pred - y.numpy()
    r2 = 1 - (err**2).sum() / ((y.numpy() - y.numpy().mean()) ** 2).sum()
    assert got["val/mse"] == pytest.approx((err**2).mean(), rel=1e-5)
    assert got["val/mae"] == pytest.approx(np.abs(err).mean(), rel=1e-5)
    assert got["val/r2"] == pytest.approx(r2, rel=1e-5)


@pytest.mark.slow
def test_diabetes_reaches_its_documented_validation_mse(trn_home):
    proc = run_trn("run", "data=diabetes", "task=regression", "devices=cpu", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    metrics = record["metrics"]
    assert {"train/loss", "val/mse", "val/mae", "val/r2"} <= set(metrics)
    assert metrics["val/mse"] < 0.65 and metrics["val/r2"] > 0.2, metrics  # docs/data.md: 0.565
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    started = next(e for e in events if e["event"] == "job_started")
    assert started["task"] == "regression" and started["resume_exact"] is True
    steps = [e for e in events if e["event"] == "metrics" and e["phase"] == "train"]
    assert steps and all(set(e["metrics"]) == {"train/loss", "lr"} for e in steps)
    # the regression objective (val/mse, min) picks the best checkpoint
    saved = [e for e in events if e["event"] == "checkpoint_saved" and e["reason"] == "epoch"]
    best = min(saved, key=lambda e: e["metrics"]["val/mse"])
    best_json = Path(record["job_dir"]) / "checkpoints" / "best.json"
    assert json.loads(best_json.read_text())["meta"] == Path(best["meta_path"]).name


@pytest.mark.slow
def test_classification_of_float_targets_fails_with_the_fix(trn_home):
    proc = run_trn("run", "data=diabetes", "profile=dev", "devices=cpu", "--json")
    record = json.loads(proc.stdout)
    assert record["state"] == "failed"
    assert record["error"] == (
        "ConfigError: task=classification: the data's targets are floats (diabetes), not class "
        "labels; add task=regression"
    )
