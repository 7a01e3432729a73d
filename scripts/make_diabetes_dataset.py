"""Regenerate datasets/diabetes (a regression dataset) through the same code as `trn data build`.

    python scripts/make_diabetes_dataset.py [OUT]   # default OUT: datasets/diabetes; needs scikit-learn

scikit-learn's bundled diabetes data (Efron et al. 2004): 442 patients, 10 baseline features
, target a measure of disease progression one year later (25..346). x and y are
standardised (mean 0, std 1 over all 442) and stored as float32, so a validation MSE reads
directly as a fraction of the target's variance. 512 samples per shard,
train/val 80/20 by seed 0. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rebuild_dataset import ROOT, rebuild  # scripts/: the recipe both committed datasets share

OUT = ROOT / "datasets" / "diabetes"
DESCRIPTION = (
    "Diabetes progression (regression): 442 patients, 10 baseline features (age, sex, bmi, "
    "blood pressure, six serum measurements); y is the disease progression one year later; x "
    "and y standardised to mean 0 and std 1 (raw y = y * 77.006 + 152.133), as float32"
)
SOURCE = (
    "Efron, Hastie, Johnstone & Tibshirani (2004), Least Angle Regression, Annals of "
    "Statistics; via sklearn.datasets.load_diabetes"
)


def write_npz(path: Path) -> None:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x, y = data.data.astype(np.float64), data.target.astype(np.float64)
    x, y = (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.float32))


def main_(out: Path = OUT) -> int:
    return rebuild(
        out,
        write_npz,
        name="diabetes",
        description=DESCRIPTION,
        license="BSD-3-Clause",
        source=SOURCE,
    )


if __name__ == "__main__":
    raise SystemExit(main_(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
