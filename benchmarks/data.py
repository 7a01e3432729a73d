"""Data loading: trn's shard loader against raw NumPy memmaps and an in-RAM TensorDataset.

    python benchmarks/data.py                       # synthesizes /tmp/trn-bench-1gib once (1 GiB)
    python benchmarks/data.py --batch-size 256 --dir DIR

Every mode reads the same shuffled batches (ShardSampler, seed 0, epoch 0), each in a fresh process
so that its peak RSS is its own:
  numpy   per batch, one fancy index per shard and feature on np.load(mmap_mode="r") arrays
  trn     DataLoader(ShardDataset, sampler=ShardSampler, batch_size=None), num_workers 0 / 2
  tensor  the whole dataset in RAM as torch tensors, DataLoader(TensorDataset, same batches)
Prints one JSON line per mode and the ratios. Results: docs/performance.md, "Data loading".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trn.data.index import load_index  # noqa: E402


def rss() -> dict[str, int]:
    """MiB: peak RSS (VmHWM: own memory plus mapped file pages) and own memory now (RssAnon)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {f"{k}_mib": int(status[k].split()[0]) // 1024 for k in ("VmHWM", "RssAnon", "RssFile")}


def batches(root: Path, batch_size: int) -> list[np.ndarray]:
    from trn.data.sampler import ShardSampler

    n = load_index(root).num_samples("train")
    return ShardSampler(n, batch_size, seed=0).batches(0)


def run_numpy(root: Path, todo: list[np.ndarray]) -> int:
    index = load_index(root)
    shards = index.shards("train")
    offsets = np.cumsum([0] + [s.num_samples for s in shards])
    maps = [
        [np.load(index.file_path(s.files[f]), mmap_mode="r") for f in ("x", "y")] for s in shards
    ]
    count = 0
    for idx in todo:
        idx = np.sort(idx)
        cuts = np.searchsorted(idx, offsets)
        for s in np.flatnonzero(cuts[1:] > cuts[:-1]):
            local = idx[cuts[s] : cuts[s + 1]] - offsets[s]
            x, y = maps[s][0][local], maps[s][1][local]
            count += len(y) + 0 * len(x)
    return count


def run_trn(root: Path, todo: list[np.ndarray], workers: int) -> int:
    from torch.utils.data import DataLoader

    from trn.data.dataset import ShardDataset

    loader = DataLoader(
        ShardDataset(root, "train"), sampler=todo, batch_size=None, num_workers=workers
    )
    return sum(len(y) for _, y in loader)


def run_tensor(root: Path, todo: list[np.ndarray]) -> int:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    data = [ShardDatasetAll(root, f) for f in ("x", "y")]
    loader = DataLoader(TensorDataset(*data), batch_sampler=[b.tolist() for b in todo])
    return sum(len(y) for _, y in loader) + 0 * int(torch.numel(data[0]) > 0)


def ShardDatasetAll(root: Path, feature: str):  # noqa: N802 - reads like the dataset it makes
    import torch

    index = load_index(root)
    parts = [np.load(index.file_path(s.files[feature])) for s in index.shards("train")]
    return torch.from_numpy(np.concatenate(parts))


def child(args: argparse.Namespace) -> None:
    todo = batches(args.dir, args.batch_size)
    if args.max_batches:
        todo = todo[: args.max_batches]
    start = time.perf_counter()
    if args.mode == "numpy":
        count = run_numpy(args.dir, todo)
    elif args.mode.startswith("trn"):
        count = run_trn(args.dir, todo, int(args.mode.split("-w")[1]))
    else:
        count = run_tensor(args.dir, todo)
    seconds = time.perf_counter() - start
    row = {"mode": args.mode, "samples": count, "seconds": round(seconds, 3)}
    row |= {"samples_per_s": round(count / seconds), **rss()}
    print(json.dumps(row))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dir", type=Path, default=Path("/tmp/trn-bench-1gib"))
    p.add_argument("--size", default="1GiB")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-batches", type=int, default=0, help="0: a whole epoch")
    p.add_argument("--tensor-batches", type=int, default=4000, help="TensorDataset is per-sample")
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        return child(args)
    if not (args.dir / "index.json").exists():
        from trn.cli.main import main as trn

        trn(["data", "synth", str(args.dir), "--size", args.size])
    size = sum(r.bytes for s in load_index(args.dir).shards("train") for r in s.files.values())
    print(f"dataset {args.dir}: {size / 2**30:.2f} GiB, batch size {args.batch_size}")
    rows = {}
    for mode in ("numpy", "trn-w0", "trn-w2", "tensor"):
        limit = args.tensor_batches if mode == "tensor" else args.max_batches
        argv = [sys.executable, __file__, "--mode", mode, "--dir", str(args.dir)]
        argv += ["--batch-size", str(args.batch_size), "--max-batches", str(limit)]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        rows[mode] = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(rows[mode]))
    base = rows["numpy"]["samples_per_s"]
    for mode in ("trn-w0", "trn-w2", "tensor"):
        print(f"{mode} / numpy memmap: {rows[mode]['samples_per_s'] / base:.2f}x")
    for key in ("VmHWM_mib", "RssAnon_mib"):
        print(f"trn-w0 {key[:-4]} / dataset size: {rows['trn-w0'][key] * 2**20 / size:.2f}")


if __name__ == "__main__":
    main()
