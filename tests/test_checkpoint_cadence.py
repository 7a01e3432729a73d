"""AtomicCheckpoint in-process: step and time cadence, keep_last + best, RNG in the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from trn.checkpoints.io import TrnCheckpointIO
from trn.checkpoints.load import load_checkpoint
from trn.runner.checkpoint import AtomicCheckpoint
from trn.runner.main import QUIET_TRAINER


class Tiny(pl.LightningModule):
    def __init__(self, metrics: list[float]):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.metrics = metrics  # val/acc per epoch

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.log("val/acc", self.metrics[self.current_epoch])  # before the epoch-end save

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(tmp_path: Path, metrics: list[float], **cadence: object) -> tuple[AtomicCheckpoint, Path]:
    folder = tmp_path / "checkpoints"
    ckpt = AtomicCheckpoint(
        folder,
        job={"job_id": "261128-120000-abcd"},
        config={"seed": 0},
        objective={"metric": "val/acc", "mode": "max"},
        events=None,
        **cadence,  # type: ignore[arg-type]
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=len(metrics),
        callbacks=[ckpt],
        plugins=[TrnCheckpointIO()],
        **QUIET_TRAINER,
        default_root_dir=str(tmp_path),
        num_sanity_val_steps=0,
    )
    data = DataLoader(TensorDataset(torch.randn(20, 4)), batch_size=4)  # 5 steps an epoch
    trainer.fit(Tiny(metrics), data, data)
    return ckpt, folder


def names(folder: Path) -> list[str]:
    return sorted(p.name[: -len(".meta.json")] for p in folder.glob("*.meta.json"))


def test_steps_epochs_keep_last_and_best(tmp_path):
    ckpt, folder = fit(
        tmp_path, [0.5, 0.9, 0.2], every_n_steps=3, every_n_epochs=1, keep_last=2, save_best=True
    )
    # saves at steps 3 6 9 12 and epoch ends 5 10 15 (step 15 is an epoch's last: one save, at
    # the epoch's end); kept: the last 2 and the best (epoch 1)
    assert names(folder) == ["e001-s0000010-epoch", "e002-s0000012-step", "e002-s0000015-epoch"]
    assert json.loads((folder / "best.json").read_text())["meta"] == "e001-s0000010-epoch.meta.json"
    latest = json.loads((folder / "latest.json").read_text())["meta"]
    assert latest == "e002-s0000015-epoch.meta.json" == ckpt.latest_meta.name
    meta, state = load_checkpoint(folder / latest)
    assert meta["step"] == 15 and abs(meta["metrics"]["val/acc"] - 0.2) < 1e-6
    rng = state["callbacks"]["AtomicCheckpoint"]["rng"]
    assert set(rng) >= {"python", "numpy", "torch"}
    assert not list(folder.glob(".tmp-*"))


def test_time_cadence_and_end(tmp_path):
    _, folder = fit(tmp_path, [0.1, 0.2], every_n_epochs=0, every_s=1e-9, keep_last=100)
    steps = [json.loads(p.read_text())["step"] for p in folder.glob("*.meta.json")]
    assert sorted(steps) == list(range(1, 11))  # every step is due; the end adds nothing new


def test_a_failed_save_is_reported_even_when_its_cleanup_is_refused(tmp_path, monkeypatch):
    """A directory made immutable mid-save refuses the write and the temp file's removal: the
    error is the write's, with what to do, not the cleanup's bare PermissionError."""
    import pytest

    from trn.runner.checkpoint import CheckpointWriteError

    (tmp_path / "checkpoints").write_text("a file where the directory should be")

    def refuse(self, missing_ok=False):  # type: ignore[no-untyped-def]
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(CheckpointWriteError, match="cannot write checkpoint e000-s0000003-step"):
        fit(tmp_path, [0.5], every_n_steps=3, every_n_epochs=0)
