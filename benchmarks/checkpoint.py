"""What trn's crash-safe checkpoints cost: save and load of a ~100 MB model, trn against plain
``torch.save``/``torch.load`` and Lightning's ``trainer.save_checkpoint``/``load_checkpoint``.

trn's save adds what the others skip: fsync of the file and the directory, a sha256 of the file,
the meta (the commit marker) and ``latest.json``. trn's load adds the size and sha256 check before
``torch.load(weights_only=True)``. The median of ``--repeat`` runs; the files are in the page
cache (a second read), so the ratios show the CPU and fsync overhead, not the disk's speed.

    python benchmarks/checkpoint.py [--mb 100] [--repeat 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from trn.checkpoints.io import TrnCheckpointIO
from trn.checkpoints.load import load_checkpoint
from trn.runner.checkpoint import AtomicCheckpoint


class Big(pl.LightningModule):
    """Linear layers holding about ``mb`` MB of float32 weights, trained one SGD step."""

    def __init__(self, mb: int):
        super().__init__()
        width = 2048
        layers = max(1, mb * 2**20 // (4 * width * width))
        self.net = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.net(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-6)  # no optimizer state: ckpt ~= weights


def trainer_for(model: Big, root: Path, plugins: list[Any]) -> pl.Trainer:
    data = torch.utils.data.TensorDataset(torch.randn(2, 2048))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        plugins=plugins,
    )
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=2))
    return trainer


def timed(fn: Any, repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trn-bench-ckpt-", dir=args.dir))
    model = Big(args.mb)
    plain = trainer_for(model, root, [])
    trn = trainer_for(model, root, [TrnCheckpointIO()])
    saver = AtomicCheckpoint(
        root / "trn",
        job={"job_id": "bench"},
        config={},
        objective={"metric": "val/acc", "mode": "max"},
        events=None,
        keep_last=1,
        save_best=False,
    )
    saves = {
        "torch.save(state_dict)": lambda i: torch.save(model.state_dict(), root / f"t{i}.pt"),
        "trainer.save_checkpoint": lambda i: plain.save_checkpoint(root / f"l{i}.ckpt"),
        "trn (atomic, fsync, sha256)": lambda i: saver.save(trn, f"bench{i}"),
    }
    loads = {
        "torch.load(weights_only)": lambda i: torch.load(root / "t0.pt", weights_only=True),
        "lightning pl_load": lambda i: plain.strategy.load_checkpoint(root / "l0.ckpt"),
        "trn (sha256 + weights_only)": lambda i: load_checkpoint(saver.latest_meta),
    }
    try:
        report("save", saves, args.repeat)
        print(f"(state_dict: {(root / 't0.pt').stat().st_size / 2**20:.0f} MiB)")
        report("load", loads, args.repeat)
    finally:
        shutil.rmtree(root)


def report(kind: str, cases: dict[str, Any], repeat: int) -> None:
    results = {name: timed(fn, repeat) for name, fn in cases.items()}
    names = list(results)
    trn_time = results[names[-1]]
    print(f"{kind}:")
    for name in names:
        print(f"  {name:<36} {results[name] * 1000:8.1f} ms")
    for name in names[:-1]:
        print(f"  {'ratio trn / ' + name:<36} {trn_time / results[name]:8.2f}x")


if __name__ == "__main__":
    main()
