"""A user's own project, written into a temp dir outside the repo: its own package, its own
LightningModule (own training_step, own optimizer, metric names trn has never seen) and its own
LightningDataModule. (No tests here: the user-project tests import it.)

The data is a regression whose target is far from any class id: y = 3 sin(x0) + x1 x2 + 20, so a
cross-entropy wrapper could not fit it; only the module's own MSE loss can.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

PACKAGE = "userpkg"

MODELS = '''
import os

import lightning.pytorch as pl
import torch
from torch import nn


class Regressor(pl.LightningModule):
    """Own loss, own metric names, own optimizer; marks each rank that built it."""

    def __init__(self, hidden: int = 32, lr: float = 0.01, mark_dir: str | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.lr = lr
        self.mark_dir = mark_dir

    def setup(self, stage):
        if self.mark_dir:  # proves this project's code runs in every DDP rank
            rank = self.trainer.global_rank
            open(os.path.join(self.mark_dir, f"rank{rank}-pid{os.getpid()}"), "w").close()

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        mse = torch.mean((self(x) - y) ** 2)
        self.log("fit/rmse", mse.sqrt())
        return mse

    def validation_step(self, batch, batch_idx):
        x, y = batch
        mse = torch.mean((self(x) - y) ** 2)
        self.log("check/mse", mse, sync_dist=True)
        self.log("check/rmse", mse.sqrt(), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class OwnData(Regressor):
    """The same module, feeding itself: no data module at all."""

    def train_dataloader(self):
        from userpkg.data import loader

        return loader(256, 0, shuffle=True)

    def val_dataloader(self):
        from userpkg.data import loader

        return loader(64, 1, shuffle=False)


class NoStep(pl.LightningModule):
    """Forgot its training_step."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 1)


def factory(hidden: int = 8):
    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))
'''

DATA = """
import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


def make(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=g) * 4 - 2
    y = 3 * torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 20
    return TensorDataset(x, y)


def loader(n: int, seed: int, shuffle: bool, batch_size: int = 32) -> DataLoader:
    return DataLoader(make(n, seed), batch_size=batch_size, shuffle=shuffle)


class Synth(pl.LightningDataModule):
    def __init__(self, n_train: int = 512, n_val: int = 128, batch_size: int = 32):
        super().__init__()
        self.n_train, self.n_val, self.batch_size = n_train, n_val, batch_size

    def train_dataloader(self):
        return loader(self.n_train, 0, True, self.batch_size)

    def val_dataloader(self):
        return loader(self.n_val, 1, False, self.batch_size)
"""


def write(root: Path) -> Path:
    """The project at ``root`` (its dir goes on PYTHONPATH); returns ``root``."""
    pkg = root / PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent(MODELS).lstrip())
    (pkg / "data.py").write_text(textwrap.dedent(DATA).lstrip())
    return root


def pythonpath(root: Path) -> str:
    return os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


# Until a project's config dir is found by trn itself, a user module is named by overrides.
def overrides(model: str = "Regressor", data: bool = True) -> list[str]:
    out = ["~model", f"+model._target_={PACKAGE}.models.{model}", f"allow_targets=[{PACKAGE}.]"]
    out += ["~data", f"+data._target_={PACKAGE}.data.Synth"] if data else ["~data"]
    return out + ["objective.metric=check/rmse", "objective.mode=min"]


TARGET_VARIANCE = 7.13  # of y over x ~ U(-2, 2)^3: Var(3 sin x0) + Var(x1 x2) = 5.35 + 1.78
