"""A plain (non-editable) install works from any directory: conf/ and the sample dataset ship
inside the wheel, and the Hydra launcher plugin namespace is packaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot build the wheel here (needs hatchling from PyPI): {proc.stderr[-300:]}"
        )
    return next(out.glob("trn-*.whl"))


def test_wheel_carries_configs_dataset_and_plugin(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "trn/conf/config.yaml" in names and "trn/conf/model/mlp.yaml" in names
    assert "trn/datasets/sample/index.json" in names
    assert "trn/datasets/diabetes/index.json" in names and "trn/conf/task/regression.yaml" in names
    assert "trn/schemas/config.schema.json" in names
    assert any(n.startswith("hydra_plugins/") for n in names)
    assert {"trn/serve/static/index.html", "trn/serve/static/app.js"} <= names  # the dashboard


def test_installed_trn_runs_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "TRN_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "run", "--dry-run", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["config"]["model"]["_target_"] == "trn.models.MLP"
    code = "import trn.paths as p; print(p.conf_dir()); print(p.bundled_datasets_dir())"
    where = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True
    ).stdout.split()
    assert all(path.startswith(str(site)) for path in where), where
