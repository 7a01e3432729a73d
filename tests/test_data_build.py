"""trn data build / info / synth, and the bundled sample dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trn.data.build import parse_splits, split_indices
from trn.data.dataset import ShardDataset
from trn.data.index import load_index
from trn.data.synth import parse_size
from trn.data.verify import verify
from trn.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets" / "sample"


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_build_from_npz_is_deterministic_and_reads_back(tmp_path: Path, cli) -> None:
    x = np.random.default_rng(1).random((50, 2, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(50) % 4)
    args = ["--from", str(tmp_path / "a.npz"), "--shard-size", "8", "--split", "train=0.6,val=0.4"]
    assert cli("data", "build", str(tmp_path / "one"), *args)[0] == 0
    assert cli("data", "build", str(tmp_path / "two"), *args, "--name", "one")[0] == 0
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")
    index = load_index(tmp_path / "one")
    assert index.num_samples("train") == 30 and len(index.shards("train")) == 4
    assert index.feature("x").shape == (2, 3) and index.feature("y").num_classes == 4
    val = ShardDataset(tmp_path / "one", "val")
    got_x, got_y = val[np.arange(20)]
    rows = np.sort(np.random.default_rng(0).permutation(50)[30:])
    assert np.array_equal(got_x.numpy(), x[rows]) and got_y.tolist() == (rows % 4).tolist()


def test_build_from_csv_with_label_column(tmp_path: Path, cli) -> None:
    lines = ["a,species,b"] + [f"{i / 10},{i % 3},{-i}" for i in range(12)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    code, out, _ = cli(
        "data",
        "build",
        str(tmp_path / "c"),
        "--from",
        str(tmp_path / "t.csv"),
        "--label",
        "species",
        "--split",
        "train=1",
    )
    assert code == 0 and "train 12 samples / 1 shards" in out
    x, y = ShardDataset(tmp_path / "c")[np.arange(12)]
    assert x[5].tolist() == pytest.approx([0.5, -5]) and y.tolist() == [i % 3 for i in range(12)]
    assert load_index(tmp_path / "c").feature("y").num_classes == 3


IRIS_LIKE = "sepal_length,sepal_width,species\n" + "".join(
    f"{4 + i % 7 / 2},{2 + i % 5 / 3},{('setosa', 'versicolor', 'virginica')[i % 3]}\n"
    for i in range(90)
)


def test_a_csv_with_text_labels_numbers_its_classes_and_trains(tmp_path: Path, cli) -> None:
    """The iris case: classes named in the label column become 0..K-1 in sorted order, the
    names are kept in index.json, and the dataset trains."""
    (tmp_path / "iris.csv").write_text(IRIS_LIKE)
    out = tmp_path / "iris"
    code, _, err = cli("data", "build", str(out), "--from", str(tmp_path / "iris.csv"),
                       "--label", "species")  # fmt: skip
    assert code == 0, err
    y = load_index(out).feature("y")
    assert y.num_classes == 3 and y.class_names == ("setosa", "versicolor", "virginica")
    _, labels = ShardDataset(out, "train")[np.arange(3)]
    rows = np.sort(np.random.default_rng(0).permutation(90)[:72])[:3]
    assert labels.tolist() == (rows % 3).tolist()
    code, text, _ = cli("data", "info", str(out))
    assert "3 classes (setosa, versicolor, virginica)" in text
    code, _, err = cli("run", f"data.path={out}", "profile=dev", "--dry-run")
    assert code == 0, err


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a,label\n1,x\n\nsix,y\n", "line 4, column 'a': 'six' is not a number"),
        ("a,label\n1,0\n2\n", "line 3 has 1 values, the header 2"),
        ("a,label\n1,0.5\n", "must hold integer class ids 0..K-1 or names"),
        ("a,label\n", "no rows under the header"),
    ],
)
def test_a_bad_csv_is_one_line_naming_where(tmp_path: Path, cli, text, problem) -> None:
    (tmp_path / "t.csv").write_text(text)
    code, _, err = cli("data", "build", str(tmp_path / "o"), "--from", str(tmp_path / "t.csv"))
    assert code == 2 and problem in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_class_names_must_match_num_classes(tmp_path: Path, cli) -> None:
    (tmp_path / "iris.csv").write_text(IRIS_LIKE)
    out = tmp_path / "iris"
    assert cli("data", "build", str(out), "--from", str(tmp_path / "iris.csv"),
               "--label", "species")[0] == 0  # fmt: skip
    raw = json.loads((out / "index.json").read_text())
    raw["features"][1]["class_names"].pop()
    (out / "index.json").write_text(json.dumps(raw))
    code, out_text, _ = cli("data", "verify", str(out))
    assert code == 1 and "has 2 class_names for num_classes=3" in out_text


def test_build_refuses_to_overwrite_without_force(tmp_path: Path, cli) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 1), np.float32))
    args = ["data", "build", str(tmp_path / "d"), "--from", str(tmp_path / "a.npz")]
    assert cli(*args, "--split", "train=1")[0] == 0
    code, _, err = cli(*args)
    assert code == 2 and "already holds a dataset; pass --force" in err
    assert cli(*args, "--force", "--split", "train=0.5,val=0.5")[0] == 0
    assert sorted(p.name for p in (tmp_path / "d" / "train").iterdir()) == ["00000-x.npy"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--split", "train=0.5,val=0.2"], "sum to 0.7; make them sum to 1"),
        (["--split", "train"], "is not NAME=FRACTION"),
        (["--shard-size", "0"], "--shard-size must be at least 1"),
        (["--label", "nope"], "--label nope: not in"),
    ],
)
def test_build_usage_errors(tmp_path: Path, cli, argv: list[str], message: str) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 1), np.float32))
    code, _, err = cli(
        "data", "build", str(tmp_path / "e"), "--from", str(tmp_path / "a.npz"), *argv
    )
    assert code == 2 and message in err and err.count("\n") == 1


def test_split_assignment() -> None:
    parts = split_indices(10, parse_splits("train=0.7,val=0.2,test=0.1"), seed=3)
    assert [len(v) for v in parts.values()] == [7, 2, 1]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(10))
    assert all(np.all(np.diff(v) > 0) for v in parts.values())
    with pytest.raises(UsageError, match="empty split"):
        split_indices(3, {"train": 0.9, "val": 0.1}, 0)


def test_synth_and_info(tmp_path: Path, cli) -> None:
    assert (
        parse_size("1GiB") == 2**30 and parse_size("100MB") == 10**8 and parse_size("4096") == 4096
    )
    code, out, _ = cli(
        "data",
        "synth",
        str(tmp_path / "s"),
        "--size",
        "100KiB",
        "--dim",
        "8",
        "--shard-size",
        "1000",
    )
    assert code == 0 and "train 2560 samples / 3 shards" in out
    assert verify(tmp_path / "s") == []
    code, out, _ = cli("data", "info", str(tmp_path / "s"), "--json")
    info = json.loads(out)
    assert code == 0 and info["splits"]["train"] == {
        "bytes": 2560 * 40 + 6 * 128,
        "samples": 2560,
        "shards": 3,
    }
    assert info["features"][1] == {"dtype": "int64", "name": "y", "num_classes": 10, "shape": []}
    code, out, _ = cli("data", "info", str(tmp_path / "s"))
    assert "feature x: float32 [8]" in out and "split train: 2560 samples in 3 shard(s)" in out
    code, _, err = cli("data", "synth", str(tmp_path / "t"), "--size", "lots")
    assert code == 2 and "is not a size" in err


def test_sample_dataset_is_built_and_verified(cli) -> None:
    code, out, _ = cli("data", "verify", str(SAMPLE))
    assert code == 0 and out.startswith("ok:")
    index = load_index(SAMPLE)
    assert (index.name, index.license) == ("sample", "CC-BY-4.0")
    assert index.num_samples("train") + index.num_samples("val") == 1797
    assert [s.num_samples for s in index.shards("train")] == [512, 512, 414]
    assert "Alpaydin" in (SAMPLE / "README.md").read_text()


def test_sample_dataset_regenerates_byte_for_byte(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    script = ROOT / "scripts" / "make_sample_dataset.py"
    subprocess.run([sys.executable, script, tmp_path / "s"], check=True, capture_output=True)
    committed = {k: v for k, v in files_of(SAMPLE).items() if k != "README.md"}
    assert files_of(tmp_path / "s") == committed


def test_verify_and_info_do_not_import_torch() -> None:
    code = (
        "import sys; from trn.cli.main import main; "
        f"main(['data', 'verify', {str(SAMPLE)!r}]); main(['data', 'info', 'sample']); "
        "assert 'torch' not in sys.modules and 'lightning' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
