"""A project shaped like lightning-hydra-template, written into a temp dir outside the repo
(its own files, not the template's): ``src/`` is its package, ``configs/`` its config dir with
its own ``paths``, ``extras``, ``callbacks`` and ``experiment`` groups; the data config reads
``${paths.data_dir}``, a relative ``data/`` (trn runs a job in its project root), and the model
writes into ``${paths.output_dir}`` (``${hydra:runtime.output_dir}``: the job dir).

The data are three Gaussian blobs in 2-D, read from ``data/blobs.csv``, which the DataModule's
``prepare_data`` writes when it is missing. ``src.callbacks.EpochMarker`` appends a line per
finished epoch to a file: the project's own callback, reaching the Trainer.
(No tests here: the template-project tests import it.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PYPROJECT = """
[project]
name = "blobs"
version = "0.1.0"

[tool.trn]
config_dir = "configs"
allow_targets = ["src."]
"""

DENSE = """
from torch import nn


class DenseNet(nn.Module):
    def __init__(self, input_size: int = 2, hidden: int = 16, output_size: int = 3):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, hidden), nn.ReLU(), nn.Linear(hidden, output_size)
        )

    def forward(self, x):
        return self.model(x)
"""

MODULE = '''
import os

import torch
from lightning import LightningModule
from torch import nn


class BlobsLitModule(LightningModule):
    """Its own loss, metric names, optimizer; writes a note into its output dir at the end."""

    def __init__(self, net: nn.Module, lr: float = 0.01, out_dir: str | None = None):
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["net"])
        self.net = net

    def forward(self, x):
        return self.net(x)

    def _step(self, batch):
        x, y = batch
        logits = self(x)
        return nn.functional.cross_entropy(logits, y), (logits.argmax(-1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, _ = self._step(batch)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("val/loss", loss)
        self.log("val/acc", acc)

    def on_train_end(self):
        if self.hparams.out_dir:
            with open(os.path.join(self.hparams.out_dir, "trained.txt"), "w") as f:
                f.write(f"lr={self.hparams.lr}\\n")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
'''

DATAMODULE = """
import os

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset


class BlobsDataModule(LightningDataModule):
    def __init__(self, data_dir: str = "data/", batch_size: int = 32, n: int = 600):
        super().__init__()
        self.data_dir, self.batch_size, self.n = data_dir, batch_size, n

    @property
    def file(self):
        return os.path.join(self.data_dir, "blobs.csv")

    def prepare_data(self):
        if os.path.exists(self.file):
            return
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 3, (self.n,), generator=g)
        centers = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
        x = centers[y] + torch.randn(self.n, 2, generator=g)
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.file, "w") as f:
            f.writelines(f"{a:.5f},{b:.5f},{int(c)}\\n" for (a, b), c in zip(x.tolist(), y))

    def setup(self, stage=None):
        self.prepare_data()  # idempotent: whoever calls setup first finds the file
        rows = [line.split(",") for line in open(self.file).read().split()]
        x = torch.tensor([[float(a), float(b)] for a, b, _ in rows])
        y = torch.tensor([int(c) for _, _, c in rows])
        cut = len(rows) * 5 // 6
        self.train, self.val = TensorDataset(x[:cut], y[:cut]), TensorDataset(x[cut:], y[cut:])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)
"""

CALLBACKS = '''
from lightning.pytorch.callbacks import Callback


class EpochMarker(Callback):
    """Appends ``epoch N`` to ``path`` as each training epoch ends."""

    def __init__(self, path: str):
        self.path = path

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            with open(self.path, "a") as f:
                f.write(f"epoch {trainer.current_epoch}\\n")
'''

CONFIGS = {
    "config.yaml": """
        # trn run    (this project's primary config, laid over trn's)
        defaults:
          - _self_
          - data: blobs
          - model: blobs
          - callbacks: default
          - paths: default
          - extras: default
          - experiment: null

        task_name: train
        tags: [dev]
        seed: 12
        objective:
          metric: val/acc
          mode: max
        """,
    "paths/default.yaml": """
        root_dir: ${trn:project_root}
        data_dir: data/                  # relative: from the project root, wherever trn runs
        log_dir: ${paths.root_dir}/logs/
        output_dir: ${hydra:runtime.output_dir}
        """,
    "extras/default.yaml": """
        ignore_warnings: false
        print_config: true
        """,
    "data/blobs.yaml": """
        _target_: src.data.blobs_datamodule.BlobsDataModule
        data_dir: ${paths.data_dir}
        batch_size: 32
        """,
    "model/blobs.yaml": """
        _target_: src.models.blobs_module.BlobsLitModule
        lr: 0.01
        out_dir: ${paths.output_dir}
        net:
          _target_: src.models.components.dense.DenseNet
          input_size: 2
          hidden: 16
          output_size: 3
        """,
    "callbacks/default.yaml": """
        defaults:
          - early_stopping       # trn's shipped option, found after the project's dir
          - lr_monitor
          - epoch_marker         # the project's own
          - _self_

        early_stopping:
          monitor: val/loss
          mode: min
          patience: 1
        """,
    "callbacks/epoch_marker.yaml": """
        epoch_marker:
          _target_: src.callbacks.EpochMarker
          path: ${paths.output_dir}/epochs.txt
        """,
    "callbacks/none.yaml": "",
    "experiment/example.yaml": """
        # @package _global_
        # trn run experiment=example
        defaults:
          - override /callbacks: none

        tags: [blobs, example]
        seed: 7
        trainer:
          max_epochs: 3
          check_val_every_n_epoch: 1
        model:
          lr: 0.02
          net:
            hidden: 32
        data:
          batch_size: 64
        """,
}


def write(root: Path) -> Path:
    """The project at ``root``; returns ``root``."""
    files = {
        "pyproject.toml": PYPROJECT,
        "src/__init__.py": "",
        "src/models/__init__.py": "",
        "src/models/components/__init__.py": "",
        "src/models/components/dense.py": DENSE,
        "src/models/blobs_module.py": MODULE,
        "src/data/__init__.py": "",
        "src/data/blobs_datamodule.py": DATAMODULE,
        "src/callbacks.py": CALLBACKS,
        **{f"configs/{name}": text for name, text in CONFIGS.items()},
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root
