"""trn's default profile trains deterministically without walls plain Lightning lacks: a project
whose step uses an operation with no deterministic implementation trains (one warning names it),
and torch's NaN fill of new tensors is off unless the project's own code turns it back on."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import read_events, run_trn

pytestmark = pytest.mark.slow

MODULE = '''
import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Scatter(pl.LightningModule):
    """Writes its activations into a buffer with ``put_``, which torch has no deterministic
    implementation of: plain Lightning trains it with the Trainer's defaults."""

    def __init__(self, want_fill: bool = False):
        super().__init__()
        if want_fill:  # a project that wants torch's debugging fill turns it on itself
            torch.utils.deterministic.fill_uninitialized_memory = True
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.layer(x).squeeze(-1)
        slots = torch.zeros(out.numel()).put_(torch.arange(out.numel()), out.detach())
        loss = torch.mean((out - y) ** 2) + 0 * slots.sum()
        self.log("probe/fill", float(torch.utils.deterministic.fill_uninitialized_memory))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.mean((self.layer(x).squeeze(-1) - y) ** 2))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Data(pl.LightningDataModule):
    def setup(self, stage=None):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 4, generator=g)
        self.data = TensorDataset(x, x.sum(dim=1))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=16)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=32)
'''


def project(root: Path) -> Path:
    (root / "scatterproj").mkdir(parents=True)
    (root / "scatterproj" / "__init__.py").write_text("")
    (root / "scatterproj" / "train.py").write_text(textwrap.dedent(MODULE).lstrip())
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "data").mkdir()
    (root / "conf" / "model" / "scatter.yaml").write_text("_target_: scatterproj.train.Scatter\n")
    (root / "conf" / "data" / "scatter.yaml").write_text("_target_: scatterproj.train.Data\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "scatterproj"\n\n[tool.trn]\nallow_targets = ["scatterproj."]\n'
    )
    return root


def train(root: Path, home: Path, *overrides: str) -> tuple[dict, list[dict]]:
    proc = run_trn(
        "run", "--json", "model=scatter", "data=scatter", "devices=cpu", "trainer.max_epochs=1",
        "events.heartbeat_s=0", *overrides, cwd=root, env={"TRN_HOME": str(home), "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    return record, read_events(Path(record["job_dir"]) / "events.jsonl")


def test_an_operation_without_a_deterministic_implementation_trains_and_is_named(tmp_path):
    record, events = train(project(tmp_path / "proj"), tmp_path / "home")
    assert record["state"] == "completed", record.get("error")
    config = yaml.safe_load((Path(record["job_dir"]) / "config.yaml").read_text())
    assert config["trainer"]["deterministic"] == "warn"  # the default profile's
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    named = [m for m in warnings if m.startswith("put_ has no deterministic implementation")]
    assert len(named) == 1, warnings  # once, though every step calls it
    epoch = [e for e in events if e["event"] == "metrics" and e["phase"] == "epoch"][-1]
    assert epoch["metrics"]["probe/fill"] == 0.0  # trn left new tensors unfilled


def test_a_module_that_wants_the_nan_fill_keeps_it(tmp_path):
    record, events = train(project(tmp_path / "proj"), tmp_path / "home", "+model.want_fill=true")
    assert record["state"] == "completed", record.get("error")
    epoch = [e for e in events if e["event"] == "metrics" and e["phase"] == "epoch"][-1]
    assert epoch["metrics"]["probe/fill"] == 1.0


def test_deterministic_true_still_refuses_such_an_operation(tmp_path):
    record, _ = train(project(tmp_path / "proj"), tmp_path / "home", "trainer.deterministic=true")
    assert record["state"] == "failed"
    assert "put_ does not have a deterministic implementation" in record["error"]
