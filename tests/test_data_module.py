"""ShardDataModule: batches, metadata, errors before training, and exact resume under Lightning."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from trn.data.build import BuildOptions, build
from trn.data.datamodule import ShardDataModule
from trn.data.errors import DatasetError

N = 203


@pytest.fixture
def ids(tmp_path: Path, trn_home: Path) -> Path:
    """Sample i has x[0] = i, y = i % 10; train only, shards of 32."""
    i = np.arange(N)
    x = np.zeros((N, 64), np.float32)
    x[:, 0] = i
    np.savez(tmp_path / "src.npz", x=x, y=i % 10)
    build(tmp_path / "src.npz", tmp_path / "ids", BuildOptions(32, {"train": 1.0}), False)
    return tmp_path / "ids"


def test_sample_dataset_batches(trn_home: Path) -> None:
    dm = ShardDataModule("sample", batch_size=32, seed=1)
    assert dm.num_features == 64 and dm.num_classes == 10
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (32, 64) and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and y.shape == (32,) and 0 <= y.min() and y.max() < 10
    val = list(dm.val_dataloader())
    assert sum(len(b[1]) for b in val) == 359 and len(val[-1][1]) == 359 - 11 * 32


def test_setup_names_the_broken_shard(tmp_path: Path, trn_home: Path) -> None:
    dm_path = tmp_path / "digits"
    shutil.copytree(ShardDataModule("sample").root, dm_path)
    (dm_path / "train" / "00001-y.npy").write_bytes(b"")
    dm = ShardDataModule(str(dm_path))
    with pytest.raises(DatasetError, match=r"dataset 'sample' at .*digits: shard train/00001 fea"):
        dm.setup("fit")


def test_features_must_be_x_float32_and_y_labels(ids: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", x=np.zeros((8, 2), np.float64), y=np.zeros(8, np.float32))
    build(tmp_path / "bad.npz", tmp_path / "bad", BuildOptions(splits={"train": 1.0}), False)
    with pytest.raises(DatasetError, match="feature x: dtype is float64; store x as float32"):
        ShardDataModule(str(tmp_path / "bad")).num_features
    assert ShardDataModule(str(ids)).val_dataloader() == []


class Recorder(pl.LightningModule):
    """A linear model that records the ids (x[:, 0]) of every training batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(64, 10)
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append(x[:, 0].long().tolist())
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(dm: ShardDataModule, root: Path, ckpt: str | None = None) -> list[list[int]]:
    model = Recorder()
    every = pl.callbacks.ModelCheckpoint(root, "{step}", every_n_train_steps=5, save_top_k=-1)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[every],
        default_root_dir=root,
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
    return model.seen


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_mid_epoch_continues_at_the_exact_next_sample(ids: Path, tmp_path: Path) -> None:
    """Workers read ahead; the checkpoint still records what the loop consumed."""
    dm = ShardDataModule(str(ids), batch_size=16, num_workers=2, seed=4)
    full = fit(dm, tmp_path / "a")
    assert len(full) == 26 and sorted(sum(full[:13], [])) == list(range(N))
    assert full[:13] != full[13:]  # epochs are shuffled differently
    for step in (5, 20):  # mid epoch 0, mid epoch 1
        again = ShardDataModule(str(ids), batch_size=16, num_workers=0, seed=4)
        tail = fit(again, tmp_path / f"b{step}", str(tmp_path / "a" / f"step={step}.ckpt"))
        assert tail == full[step:]
