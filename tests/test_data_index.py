"""Bad manifests and bad shards: each gives one clear error before training, and verify lists all."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from trn.data.build import BuildOptions, build
from trn.data.errors import DatasetError
from trn.data.index import fingerprint, load_index, resolve_dataset
from trn.data.verify import check_dataset, verify
from trn.errors import NotFound, UsageError


@pytest.fixture
def ds(tmp_path: Path, trn_home: Path) -> Path:
    """A dataset 'tiny' of 100 samples: train 80 in shards of 32 (32, 32, 16), val 20."""
    src = tmp_path / "src.npz"
    rng = np.random.default_rng(0)
    x = rng.random((100, 4), dtype=np.float32)
    np.savez(src, x=x, y=np.arange(100) % 3)
    out = tmp_path / "tiny"
    build(src, out, BuildOptions(shard_size=32, name="tiny"), show_progress=False)
    return out


def edit_index(root: Path, change) -> None:
    doc = json.loads((root / "index.json").read_text())
    change(doc)
    (root / "index.json").write_text(json.dumps(doc))


def error_of(root: Path) -> str:
    with pytest.raises(DatasetError) as info:
        check_dataset(root)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"dataset 'tiny' at {root}: ")
    return msg


def test_good_dataset_passes(ds: Path) -> None:
    assert verify(ds) == []
    index = check_dataset(ds)
    assert index.num_samples("train") == 80 and index.num_samples("val") == 20
    assert [s.num_samples for s in index.shards("train")] == [32, 32, 16]
    assert index.feature("y").num_classes == 3


def test_missing_shard(ds: Path) -> None:
    (ds / "train/00001-x.npy").unlink()
    msg = error_of(ds)
    assert "shard train/00001 feature x (train/00001-x.npy): file is missing" in msg
    assert "rebuild" in msg


def test_checksum_mismatch_same_size(ds: Path) -> None:
    path = ds / "train/00002-y.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "shard train/00002 feature y" in error_of(ds)
    assert "checksum mismatch" in error_of(ds)


def test_size_mismatch(ds: Path) -> None:
    with open(ds / "val/00000-x.npy", "ab") as f:
        f.write(b"\0" * 16)
    assert "shard val/00000 feature x (val/00000-x.npy): size is" in error_of(ds)


def test_dtype_that_does_not_match_the_index(ds: Path) -> None:
    edit_index(ds, lambda d: d["features"][0].update(dtype="float64"))
    assert "dtype is <f4, the index says <f8" in error_of(ds)


def test_shape_that_does_not_match_the_index(ds: Path) -> None:
    edit_index(ds, lambda d: d["features"][0].update(shape=[2, 2]))
    assert "sample shape is [4], the index says [2, 2]" in error_of(ds)


def test_counts_that_disagree(ds: Path) -> None:
    edit_index(ds, lambda d: d["splits"]["train"][2].update(num_samples=17))
    msg = error_of(ds)
    assert "shard train/00002" in msg and "holds 16 samples, the index says the shard has 17" in msg


@pytest.mark.parametrize("bad", ["../outside.npy", "train/../../outside.npy", "/etc/passwd"])
def test_path_that_escapes_the_dataset(ds: Path, bad: str) -> None:
    edit_index(ds, lambda d: d["splits"]["train"][0]["files"]["x"].update(path=bad))
    msg = error_of(ds)
    assert f"shard train/00000: path '{bad}' escapes the dataset directory" in msg


def test_symlink_that_escapes_the_dataset(ds: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.npy"
    shutil.move(ds / "train/00000-x.npy", outside)
    (ds / "train/00000-x.npy").symlink_to(outside)
    assert "escapes the dataset directory" in error_of(ds)


def test_schema_errors_all_named(ds: Path) -> None:
    def change(d):
        del d["license"]
        d["features"][1]["dtype"] = "complex64"

    edit_index(ds, change)
    msg = error_of(ds)
    assert "index.json: (top level): 'license' is a required property" in msg
    assert "and 1 more problem(s): run `trn data verify" in msg
    assert "features[1].dtype: 'complex64' is not one of" in str(verify(ds)[1])


def test_shard_without_a_file_per_feature(ds: Path) -> None:
    edit_index(ds, lambda d: d["splits"]["val"][0]["files"].pop("y"))
    assert "shard val/00000: has files for ['x'], the index declares ['x', 'y']" in error_of(ds)


def test_missing_or_broken_index(ds: Path) -> None:
    (ds / "index.json").write_text("{not json")
    assert "index.json: unreadable" in error_of(ds)
    (ds / "index.json").unlink()
    with pytest.raises(DatasetError, match="index.json: missing"):
        load_index(ds)


def test_verify_lists_every_problem_and_exits_1(ds: Path, cli) -> None:
    (ds / "train/00000-x.npy").unlink()
    with open(ds / "val/00000-y.npy", "ab") as f:
        f.write(b"!")
    edit_index(ds, lambda d: d["splits"]["train"][1].update(num_samples=31))
    problems = [str(p) for p in verify(ds)]
    assert len(problems) == 4, problems  # the count disagrees with both files of shard 1
    code, out, _ = cli("data", "verify", str(ds))
    assert code == 1 and out.count(str(ds)) == 5 and "4 problem(s)" in out


def test_a_plan_for_another_home_remembers_its_checksums_there(
    ds: Path, trn_home: Path, tmp_path: Path
) -> None:
    """Planning for a home given as an argument (trn serve's, --log-dir) keeps the checksums
    in that home, not in $TRN_HOME's."""
    from trn.lifecycle.plan import check_data

    other = tmp_path / "served"
    check_data(
        {"data": {"_target_": "trn.data.datamodule.ShardDataModule", "path": str(ds)}}, None, other
    )
    assert (other / "cache" / "datasets" / f"{fingerprint(ds)}.json").is_file()
    assert not (trn_home / "cache").exists()


def test_checksums_on_first_use_are_remembered(ds: Path, trn_home: Path) -> None:
    check_dataset(ds)
    cached = trn_home / "cache" / "datasets" / f"{fingerprint(ds)}.json"
    assert cached.is_file()
    path = ds / "train/00000-x.npy"
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    check_dataset(ds)  # same size and mtime: not hashed again
    with pytest.raises(DatasetError, match="checksum mismatch"):
        check_dataset(ds, cache=False)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        check_dataset(ds)  # the file changed since it was hashed


def test_resolve_dataset_order(ds: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_dataset("tiny") == ds.resolve()  # a path relative to cwd
    (tmp_path / "datasets").mkdir()
    shutil.copytree(ds, tmp_path / "datasets" / "other")
    assert resolve_dataset("other") == (tmp_path / "datasets" / "other").resolve()
    assert resolve_dataset("sample").name == "sample"  # the bundled one
    with pytest.raises(NotFound, match="'nope' not found .*searched nope, datasets/nope"):
        resolve_dataset("nope")
    with pytest.raises(NotFound, match=r"\(searched /no/such/ds\); give"):  # a path is only itself
        resolve_dataset("/no/such/ds")


def test_fingerprint_is_the_index_bytes(ds: Path) -> None:
    import hashlib

    want = hashlib.sha256((ds / "index.json").read_bytes()).hexdigest()
    assert fingerprint(ds) == fingerprint(ds / "index.json") == want


def test_missing_feature_or_split_is_a_usage_error(ds: Path) -> None:
    index = load_index(ds)
    with pytest.raises(UsageError, match="no split 'test'; have: train, val"):
        index.shards("test")
    with pytest.raises(UsageError, match="no feature 'z'; have: x, y"):
        index.feature("z")


@pytest.mark.parametrize("command", ["verify", "info"])
@pytest.mark.parametrize("given", ["dir without index", "empty dir", "file"])
def test_a_path_that_is_not_a_dataset_is_a_usage_error(tmp_path: Path, cli, command, given) -> None:
    path = tmp_path / "notes"
    if given == "file":
        path.write_text("not a dataset\n")
    else:
        path.mkdir()
        if given == "dir without index":
            (path / "train").mkdir()
            (path / "readme.txt").write_text("hello\n")
    code, out, err = cli("data", command, str(path))
    assert code == 2 and out == "" and err.count("\n") == 1, (out, err)
    lacks = "a file, not a dataset directory" if given == "file" else "it has no index.json"
    assert f"{path}: " in err and lacks in err
    assert "`trn data build OUT --from FILE` or `trn data synth OUT`" in err


def test_a_dataset_named_like_a_file_in_cwd_still_resolves(ds: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datasets").mkdir()
    shutil.copytree(ds, tmp_path / "datasets" / "other")
    (tmp_path / "other").write_text("a file of the same name\n")
    assert resolve_dataset("other") == (tmp_path / "datasets" / "other").resolve()
