"""What make_sample_dataset.py and make_diabetes_dataset.py share: the committed datasets' one
recipe (512 samples per shard, train/val 80/20 by a permutation with seed 0) run through the same
code as `trn data build`, so a rerun writes them byte for byte."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's trn, whichever one is installed

from trn.cli.main import main  # noqa: E402


def rebuild(
    out: Path,
    write_npz: Callable[[Path], None],
    *,
    name: str,
    description: str,
    license: str,
    source: str,
) -> int:
    """Build the arrays write_npz(path) saves into the dataset `out`, replacing one already there;
    the exit code of `trn data build`."""
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / f"{name}.npz"
        write_npz(npz)
        argv = ["data", "build", str(out), "--from", str(npz), "--shard-size", "512"]
        argv += ["--split", "train=0.8,val=0.2", "--seed", "0", "--name", name]
        argv += ["--description", description, "--license", license, "--source", source]
        return main(argv + ["--force"] if (out / "index.json").exists() else argv)
