"""``trn init DIR``: a new project whose own test passes, and whose configs compose with trn's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import run_trn

from trn.config.validate import load
from trn.paths import conf_dir

FILES = [
    "README.md",
    "conf/data/proj.yaml",
    "conf/model/proj.yaml",
    "proj/__init__.py",
    "proj/data.py",
    "proj/model.py",
    "pyproject.toml",
    "tests/test_proj.py",
]


def init(tmp_path, *extra: str):
    return run_trn("init", str(tmp_path / "proj"), *extra)


def written(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_init_writes_the_project_and_its_own_test_passes(tmp_path):
    proc = init(tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "proj"
    assert written(root) == FILES
    assert "cd " in proc.stdout and "trn run model=proj" in proc.stdout
    pyproject = (root / "pyproject.toml").read_text()
    assert 'config_dir = "conf"' in pyproject and 'allow_targets = ["proj."]' in pyproject
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the project alone
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-2000:]
    assert "1 passed" in test.stdout


def test_its_configs_compose_with_trns_own(tmp_path):
    """The scaffold's group files beside trn's bundled ones (what its config dir does)."""
    assert init(tmp_path).returncode == 0
    merged = tmp_path / "merged"
    shutil.copytree(conf_dir(), merged)
    shutil.copytree(tmp_path / "proj" / "conf", merged, dirs_exist_ok=True)
    config = load(["model=proj", "data=proj", "allow_targets=[proj.]"], merged)
    assert config["model"] == {"_target_": "proj.model.Classifier", "hidden": 32, "lr": 0.01}
    assert config["data"]["_target_"] == "proj.data.Blobs" and config["data"]["seed"] == 0


@pytest.mark.slow
def test_trn_trains_the_scaffold_as_it_is(tmp_path, trn_home, monkeypatch):
    """Named by overrides rather than its configs: its root still reaches the job's path
    (found through its pyproject), whatever PYTHONPATH the shell has."""
    assert init(tmp_path).returncode == 0
    root = tmp_path / "proj"
    monkeypatch.delenv("PYTHONPATH", raising=False)
    proc = run_trn(
        "run", "profile=dev", "devices=cpu", "trainer.max_epochs=3",
        "trainer.limit_train_batches=1.0", "~model", "+model._target_=proj.model.Classifier",
        "~data", "+data._target_=proj.data.Blobs", "allow_targets=[proj.]", "--json", cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and record["metrics"]["val/acc"] > 0.9


def test_cd_into_it_and_trn_run_model_name_trains(tmp_path, trn_home, monkeypatch):
    assert init(tmp_path).returncode == 0
    root = tmp_path / "proj"
    proc = run_trn("run", "model=proj", "profile=dev", "devices=cpu", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["state"] == "completed"
    proc = run_trn("run", "model=proj", "data=proj", "devices=cpu", "--json", cwd=root)
    assert json.loads(proc.stdout)["metrics"]["val/acc"] > 0.9


def test_a_non_empty_dir_is_refused_and_left_as_it_was(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    proc = init(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"trn init: error: {root} is not empty and holds no Python project (no "
        "pyproject.toml, no package); give a new or empty directory, or your project's root"
    ]
    assert written(root) == ["notes.txt"]


def test_an_empty_dir_is_fine_and_a_bad_name_is_refused(tmp_path):
    (tmp_path / "proj").mkdir()
    assert init(tmp_path, "--name", "proj").returncode == 0
    bad = run_trn("init", str(tmp_path / "other"), "--name", "My-Proj")
    assert bad.returncode == 2 and "--name My-Proj: not a package name" in bad.stderr
    assert not (tmp_path / "other").exists()


def files_and_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_init_here_adopts_a_project_with_its_own_configs_without_touching_it(tmp_path):
    import template_project

    root = template_project.write(tmp_path / "blobs")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().split("[tool.trn]")[0])  # not a trn project yet
    before = files_and_bytes(root)
    proc = run_trn("init", "--here", cwd=root)
    assert proc.returncode == 0, proc.stderr
    after = files_and_bytes(root)
    assert set(after) == set(before)  # nothing new: its configs/ is used as it is
    changed = [name for name in before if before[name] != after[name]]
    assert changed == ["pyproject.toml"]
    text = pyproject.read_text()
    assert text.startswith(before["pyproject.toml"].decode())  # appended to, not rewritten
    assert 'config_dir = "configs"' in text and 'allow_targets = ["src."]' in text
    plan = run_trn("run", "--dry-run", "--json", "devices=cpu", "experiment=example", cwd=root)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["config"]["model"]["lr"] == 0.02
    again = run_trn("init", ".", cwd=root)
    assert again.returncode == 2 and "has [tool.trn] already" in again.stderr
    assert files_and_bytes(root) == after


def test_init_of_a_project_without_configs_writes_an_option_per_module(tmp_path):
    import userproject

    root = userproject.write(tmp_path / "own")
    code = files_and_bytes(root)
    proc = run_trn("init", str(root))
    assert proc.returncode == 0, proc.stderr
    assert "conf/model/regressor.yaml: userpkg.models.Regressor" in proc.stdout
    assert "conf/data/synth.yaml: userpkg.data.Synth" in proc.stdout
    assert {k: v for k, v in files_and_bytes(root).items() if k in code} == code
    assert (root / "pyproject.toml").read_text().startswith("[tool.trn]\n")
    assert (root / "conf" / "model" / "regressor.yaml").read_text().splitlines()[1:] == [
        "_target_: userpkg.models.Regressor",
        "hidden: 32",
        "lr: 0.01",
        "mark_dir: null",
    ]
    config = (root / "conf" / "config.yaml").read_text()
    assert "- model: regressor" in config and "- data: synth" in config
    plan = run_trn(
        "run", "--dry-run", "--json", "devices=cpu", "objective.metric=check/rmse", cwd=root
    )
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["training"]["module"] == "lightning"


def test_init_wants_a_dir_or_here_and_a_project_in_it(tmp_path):
    neither = run_trn("init")
    assert neither.returncode == 2 and "give the project's DIR or --here" in neither.stderr
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    proc = run_trn("init", "--here", cwd=tmp_path / "notes")
    assert proc.returncode == 2 and "holds no Python project" in proc.stderr
