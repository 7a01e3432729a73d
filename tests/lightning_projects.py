"""Two Lightning projects as their authors would write them for plain ``Trainer.fit``, written
into temp dirs outside the repo (``pyproject.toml`` with ``[tool.trn]``, ``conf/``, a package).
Each has a ``train.py`` that runs it under plain Lightning, which the tests run too: the projects
are not bent to fit trn. (No tests here: tests/test_lightning_projects.py uses them.)

``glyphs``: a classifier module given its ``nn.Module`` and ``functools.partial``s of its
optimizer and scheduler (``_partial_: true`` configs), which calls ``save_hyperparameters()``,
logs its training metrics per epoch only and has a ``test_step``; a DataModule that writes its
files in ``prepare_data`` and reads them in ``setup`` (and notes each call in a journal).

``tinylm``: a character-level transformer language model with a persistent ``-inf`` causal mask
buffer, a warm-up schedule stepped per step, ``val/loss`` and ``val/ppl`` (no ``val/acc``) and a
``test_step``; its DataModule writes a corpus in ``prepare_data`` and reads it in ``setup``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

GLYPHS_NET = """
from torch import nn


class DenseNet(nn.Module):
    \"\"\"A plain network the LightningModule is handed (so it is in its hyperparameters).\"\"\"

    def __init__(self, in_size: int = 16, hidden: int = 32, out_size: int = 4,
                 scaled: bool = False):
        super().__init__()
        layers = [nn.Linear(in_size, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
        if scaled:  # a layer from another package, as a model built on a layer library has
            from extnets import Scale

            layers.append(Scale(hidden))
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, out_size))

    def forward(self, x):
        return self.layers(x)
"""

GLYPHS_MODULE = """
import lightning.pytorch as pl
import torch
from torch import nn


class GlyphClassifier(pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer, scheduler, compile: bool = False,
                 fail_test: bool = False):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.net = net
        self.criterion = nn.CrossEntropyLoss()
        self.best_acc = 0.0

    def forward(self, x):
        return self.net(x)

    def _step(self, batch):
        x, y = batch
        logits = self(x)
        return self.criterion(logits, y), (logits.argmax(dim=1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        self.log("train/acc", acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("val/loss", loss, prog_bar=True)
        self.log("val/acc", acc, prog_bar=True)

    def on_validation_epoch_end(self):
        acc = self.trainer.callback_metrics.get("val/acc")
        if acc is not None and not self.trainer.sanity_checking:
            self.best_acc = max(self.best_acc, float(acc))
        self.log("val/acc_best", self.best_acc)

    def test_step(self, batch, batch_idx):
        if self.hparams.fail_test:
            raise RuntimeError("the test set is unreadable")
        loss, acc = self._step(batch)
        self.log("test/loss", loss)
        self.log("test/acc", acc)

    def configure_optimizers(self):
        optimizer = self.hparams.optimizer(params=self.trainer.model.parameters())
        if self.hparams.scheduler is None:
            return {"optimizer": optimizer}
        scheduler = self.hparams.scheduler(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"},
        }
"""

GLYPHS_DATA = '''
import os
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

STAGES = ("fit", "validate", "test", "predict")


class GlyphData(pl.LightningDataModule):
    """Writes its data file in prepare_data (the download) and reads it in setup."""

    def __init__(self, data_dir: str = "data", batch_size: int = 32, samples: int = 640,
                 journal: str | None = None):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.train_set = self.val_set = self.test_set = None

    @property
    def file(self) -> Path:
        return Path(self.hparams.data_dir) / "glyphs.pt"

    def _note(self, what: str) -> None:
        if self.hparams.journal:
            with open(self.hparams.journal, "a") as f:
                f.write(f"{what} pid={os.getpid()}\\n")

    def prepare_data(self):
        self._note("prepare_data")
        if self.file.exists():
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        g = torch.Generator().manual_seed(1234)
        centres = torch.randn(4, 16, generator=g) * 0.6
        y = torch.randint(0, 4, (self.hparams.samples,), generator=g)
        x = centres[y] + torch.randn(self.hparams.samples, 16, generator=g)
        torch.save({"x": x, "y": y}, self.file.with_suffix(".part"))
        self.file.with_suffix(".part").rename(self.file)

    def setup(self, stage=None):
        self._note(f"setup {next((s for s in STAGES if stage == s), stage)}")
        if self.train_set is not None:
            return
        data = torch.load(self.file)  # FileNotFoundError unless prepare_data ran first
        n = len(data["y"])
        cut1, cut2 = int(0.6 * n), int(0.8 * n)
        self.train_set = TensorDataset(data["x"][:cut1], data["y"][:cut1])
        self.val_set = TensorDataset(data["x"][cut1:cut2], data["y"][cut1:cut2])
        self.test_set = TensorDataset(data["x"][cut2:], data["y"][cut2:])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size)
'''

GLYPHS_MODEL_YAML = """
# trn run model=glyphs data=glyphs
_target_: glyphs.module.GlyphClassifier
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 0.01
  weight_decay: 0.0
scheduler:
  _target_: torch.optim.lr_scheduler.ReduceLROnPlateau
  _partial_: true
  mode: min
  factor: 0.5
  patience: 3
net:
  _target_: glyphs.components.DenseNet
  in_size: 16
  hidden: 32
  out_size: 4
compile: false
"""

GLYPHS_DATA_YAML = """
_target_: glyphs.data.GlyphData
data_dir: data/glyphs
batch_size: 32
"""

GLYPHS_TRAIN = '''
"""Plain Lightning: python train.py DATA_DIR (what the project ran before trn)."""
import functools
import sys

import lightning.pytorch as pl
import torch

from glyphs.components import DenseNet
from glyphs.data import GlyphData
from glyphs.module import GlyphClassifier

if __name__ == "__main__":
    pl.seed_everything(0)
    module = GlyphClassifier(
        DenseNet(),
        functools.partial(torch.optim.Adam, lr=0.01),
        functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, mode="min", patience=3),
    )
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False,
                         default_root_dir=sys.argv[1] + "/run")
    data = GlyphData(data_dir=sys.argv[1])
    trainer.fit(module, datamodule=data)
    # its hyperparameters hold a module and partials: Lightning 2.6 loads them only so
    result = trainer.test(datamodule=data, ckpt_path="best", verbose=False, weights_only=False)
    print("TEST", result)
'''

TINYLM_MODEL = '''
import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F


class CausalLM(pl.LightningModule):
    """A character-level transformer; the causal mask is a persistent buffer of -inf."""

    def __init__(self, vocab_size: int = 32, block: int = 16, dim: int = 32, heads: int = 2,
                 layers: int = 1, lr: float = 0.003, warmup: int = 10):
        super().__init__()
        self.save_hyperparameters()
        self.embed = nn.Embedding(vocab_size, dim)
        self.position = nn.Parameter(torch.zeros(block, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, vocab_size)
        mask = torch.triu(torch.full((block, block), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.embed(idx) + self.position[:t]
        return self.head(self.blocks(h, mask=self.mask[:t, :t]))

    def _loss(self, batch):
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("val/loss", loss)
        self.log("val/ppl", torch.exp(loss))

    def test_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("test/loss", loss)
        self.log("test/ppl", torch.exp(loss))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
        warmup = self.hparams.warmup
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
'''

TINYLM_DATA = """
import random
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

ALPHABET = " .abcdefghijklmnopqrstuvwxyz"
WORDS = "the cat dog sat ran on a mat log fast slow big small red".split()


class CharData(pl.LightningDataModule):
    def __init__(self, data_dir: str = "data", block: int = 16, batch_size: int = 32,
                 sentences: int = 600):
        super().__init__()
        self.data_dir, self.block, self.batch_size = Path(data_dir), block, batch_size
        self.sentences = sentences
        self.splits = {}

    def prepare_data(self):
        corpus = self.data_dir / "corpus.txt"
        if corpus.exists():
            return
        rng = random.Random(7)
        text = " ".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) + "."
            for _ in range(self.sentences)
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        corpus.write_text(text)

    def setup(self, stage=None):
        if self.splits:
            return
        text = (self.data_dir / "corpus.txt").read_text()
        ids = torch.tensor([ALPHABET.index(c) for c in text])
        n = (len(ids) - 1) // self.block
        x = ids[: n * self.block].view(n, self.block)
        y = ids[1 : n * self.block + 1].view(n, self.block)
        cut1, cut2 = int(0.8 * n), int(0.9 * n)
        self.splits = {
            "train": TensorDataset(x[:cut1], y[:cut1]),
            "val": TensorDataset(x[cut1:cut2], y[cut1:cut2]),
            "test": TensorDataset(x[cut2:], y[cut2:]),
        }

    def train_dataloader(self):
        return DataLoader(self.splits["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.splits["val"], batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.splits["test"], batch_size=self.batch_size)
"""

TINYLM_TRAIN = '''
"""Plain Lightning: python train.py DATA_DIR."""
import sys

import lightning.pytorch as pl

from tinylm.data import CharData
from tinylm.model import CausalLM

if __name__ == "__main__":
    pl.seed_everything(0)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=2,
                         limit_test_batches=2, logger=False, enable_progress_bar=False,
                         default_root_dir=sys.argv[1] + "/run")
    data = CharData(data_dir=sys.argv[1])
    trainer.fit(CausalLM(), datamodule=data)
    print("TEST", trainer.test(datamodule=data, ckpt_path="best", verbose=False))
'''

TINYLM_MODEL_YAML = """
# trn run model=tinylm data=chars
_target_: tinylm.model.CausalLM
vocab_size: 32
block: 16
dim: 32
heads: 2
layers: 1
lr: 0.003
warmup: 10
"""

TINYLM_DATA_YAML = """
_target_: tinylm.data.CharData
data_dir: data/chars
block: 16
batch_size: 32
"""

# a layer outside the project's trusted package, as a layer library's would be
EXTNETS = """
import torch
from torch import nn


class Scale(nn.Module):
    \"\"\"A learned per-feature scale.\"\"\"

    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * self.weight
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _pyproject(package: str) -> str:
    return (
        f'[project]\nname = "{package}"\nversion = "0.1.0"\n\n'
        f'[tool.trn]\nconfig_dir = "conf"\nallow_targets = ["{package}."]\n'
    )


def glyphs(root: Path) -> Path:
    """The glyphs project at ``root``; returns ``root``."""
    _write(
        root,
        {
            "pyproject.toml": _pyproject("glyphs"),
            "glyphs/__init__.py": "",
            "glyphs/components.py": GLYPHS_NET,
            "glyphs/module.py": GLYPHS_MODULE,
            "glyphs/data.py": GLYPHS_DATA,
            "extnets/__init__.py": EXTNETS,
            "conf/model/glyphs.yaml": GLYPHS_MODEL_YAML,
            "conf/data/glyphs.yaml": GLYPHS_DATA_YAML,
            "train.py": GLYPHS_TRAIN,
        },
    )
    return root


def tinylm(root: Path) -> Path:
    """The tinylm project at ``root``; returns ``root``."""
    _write(
        root,
        {
            "pyproject.toml": _pyproject("tinylm"),
            "tinylm/__init__.py": "",
            "tinylm/model.py": TINYLM_MODEL,
            "tinylm/data.py": TINYLM_DATA,
            "conf/model/tinylm.yaml": TINYLM_MODEL_YAML,
            "conf/data/chars.yaml": TINYLM_DATA_YAML,
            "train.py": TINYLM_TRAIN,
        },
    )
    return root
