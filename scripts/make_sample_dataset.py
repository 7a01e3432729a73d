"""Regenerate datasets/sample (UCI optical digits) through the same code as `trn data build`.

    python scripts/make_sample_dataset.py [OUT]   # default OUT: datasets/sample; needs scikit-learn

Writes an .npz from scikit-learn's bundled copy of the data (x scaled from 0..16 to 0..1 as
float32, y int64), then builds it: 512 samples per shard, train/val 80/20 by seed 0. The output
is byte-for-byte reproducible, so `git diff` after a rerun is empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rebuild_dataset import ROOT, rebuild  # scripts/: the recipe both committed datasets share

OUT = ROOT / "datasets" / "sample"
DESCRIPTION = (
    "UCI optical recognition of handwritten digits: 1797 8x8 images, 10 classes; "
    "x is the 64 pixel counts (0..16) divided by 16, as float32"
)
SOURCE = (
    "https://archive.ics.uci.edu/dataset/80 (Alpaydin & Kaynak 1998), "
    "via sklearn.datasets.load_digits"
)


def write_npz(path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    np.savez(path, x=x, y=digits.target.astype(np.int64))


def main_(out: Path = OUT) -> int:
    return rebuild(
        out, write_npz, name="sample", description=DESCRIPTION, license="CC-BY-4.0", source=SOURCE
    )


if __name__ == "__main__":
    raise SystemExit(main_(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
