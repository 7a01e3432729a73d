"""What does trn cost per training step? The same MLP on the same data with the same batch size,
three ways: a hand-written PyTorch loop, a plain Lightning Trainer, and `trn run`. Prints the
steady-state steps/s of each (start-up and the first epoch excluded) and the two ratios.

    python benchmarks/overhead.py [--epochs 30] [--accelerator cpu|gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from trn.data.index import load_index, resolve_dataset
from trn.models import MLP

BATCH, HIDDEN, LR, SEED = 64, [128, 64], 0.003, 0


def sample_tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled dataset's split, read straight from its shards (what a user would load)."""
    index = load_index(resolve_dataset("sample"))
    xs, ys = [], []
    for shard in index.shards(split):
        xs.append(np.load(index.root / shard.files["x"].path))
        ys.append(np.load(index.root / shard.files["y"].path))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def model() -> nn.Module:
    torch.manual_seed(SEED)
    return MLP(64, 10, HIDDEN, dropout=0.1)


def hand_loop(epochs: int, device: str) -> float:
    x, y = sample_tensors("train")
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    net = model().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    steps, t0 = 0, 0.0
    for epoch in range(epochs):
        if epoch == 1:
            steps, t0 = 0, time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    if device != "cpu":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def plain_lightning(epochs: int, accelerator: str) -> float:
    import lightning.pytorch as pl

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model()

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            xb, yb = batch
            loss = F.cross_entropy(self.net(xb), yb)
            self.log("train/loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.AdamW(self.parameters(), lr=LR, weight_decay=1e-4)

    class Clock(pl.Callback):
        def on_train_epoch_start(self, trainer, module):  # type: ignore[no-untyped-def]
            if trainer.current_epoch == 1:
                self.t0, self.step0 = time.perf_counter(), trainer.global_step

    x, y = sample_tensors("train")
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    clock = Clock()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(Module(), loader)
    return (trainer.global_step - clock.step0) / (time.perf_counter() - clock.t0)


def trn_run(epochs: int, accelerator: str) -> float:
    """Steady-state steps/s of `trn run`, from its own metrics events (one every 10 steps)."""
    with tempfile.TemporaryDirectory() as home:
        devices = "devices=cpu" if accelerator == "cpu" else "devices=auto"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "trn",
                "run",
                "--json",
                "profile=dev",
                devices,
                f"trainer.max_epochs={epochs}",
                "trainer.limit_train_batches=1.0",
                "trainer.limit_val_batches=0",
                "checkpoint.every_n_epochs=0",
                "events.metrics_every_n_steps=10",
                f"data.batch_size={BATCH}",
                f"model.hidden=[{','.join(map(str, HIDDEN))}]",
                f"optimizer.lr={LR}",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "TRN_HOME": home},
        )
        if proc.returncode != 0:
            raise SystemExit(f"trn run failed:\n{proc.stderr[-2000:]}")
        record = json.loads(proc.stdout)
        events = [json.loads(line) for line in Path(record["job_dir"], "events.jsonl").open()]
    train = [e for e in events if e["event"] == "metrics" and e["phase"] == "train"]
    per_epoch = max(e["step"] for e in train) / epochs
    steady = [e for e in train if e["step"] >= per_epoch]  # from the second epoch on
    first, last = steady[0], steady[-1]
    seconds = _ts(last["ts"]) - _ts(first["ts"])
    return (last["step"] - first["step"]) / seconds


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args()
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    # trn first: once this process holds a CUDA context, the GPU counts as busy with another
    # program and trn's device manager would (rightly) wait for it to be free.
    results = {"trn run": trn_run(args.epochs, args.accelerator)}
    results["hand-written PyTorch loop"] = hand_loop(args.epochs, device)
    results["plain Lightning Trainer"] = plain_lightning(args.epochs, args.accelerator)
    print(
        f"MLP {HIDDEN} on datasets/sample, batch {BATCH}, {args.epochs} epochs, "
        f"{args.accelerator}, torch threads {torch.get_num_threads()}"
    )
    for name in ("hand-written PyTorch loop", "plain Lightning Trainer", "trn run"):
        rate = results[name]
        print(f"  {name:<28}{rate:>10.0f} steps/s")
    trn = results["trn run"]
    print(f"  trn / hand-written loop     {trn / results['hand-written PyTorch loop']:>10.2f}x")
    print(f"  trn / plain Lightning       {trn / results['plain Lightning Trainer']:>10.2f}x")


if __name__ == "__main__":
    main()
