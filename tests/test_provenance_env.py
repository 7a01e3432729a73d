"""environment.json: versions without importing torch, every package, secrets masked."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

from trn.provenance.environment import masked_env, packages, write_environment


def test_environment_names_torch_and_every_package_and_masks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("TRN_API_TOKEN", "tok-123")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_SECRET_THING", "s3cr3t")
    monkeypatch.setenv("UNRELATED_PASSWORD", "x")
    alloc = {
        "accelerator": "gpu",
        "device_ids": ["GPU-1"],
        "gpus": [{"uuid": "GPU-1", "name": "H200"}],
        "driver_version": "580.1",
    }
    write_environment(tmp_path, alloc, ["trn", "run", "optimizer.lr=0.1"])
    env = json.loads((tmp_path / "environment.json").read_text())
    torch_version = importlib.metadata.version("torch")
    assert env["versions"]["torch"] == torch_version == env["packages"]["torch"]
    assert env["versions"]["lightning"] == importlib.metadata.version("lightning")
    assert env["python"]["executable"] == sys.executable
    assert env["packages"]["pyyaml"] == importlib.metadata.version("PyYAML")
    assert env["argv"] == ["trn", "run", "optimizer.lr=0.1"]
    assert env["devices"]["gpus"][0]["name"] == "H200" and env["devices"]["driver"] == "580.1"
    assert env["env"]["TRN_API_TOKEN"] == "***" and env["env"]["CUDA_SECRET_THING"] == "***"
    assert env["env"]["SLURM_JOB_ID"] == "42" and "UNRELATED_PASSWORD" not in env["env"]
    assert "tok-123" not in (tmp_path / "environment.json").read_text()


def test_packages_match_what_importlib_metadata_lists():
    listed = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-").replace(".", "-")
        listed.setdefault(name, dist.version)
    assert packages() == dict(sorted(listed.items()))


def test_masking_is_by_name():
    env = {"TRN_HOME": "/h", "TRN_KEYFILE": "/k", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/root"}
    assert masked_env(env) == {"CUDA_VISIBLE_DEVICES": "0", "TRN_HOME": "/h", "TRN_KEYFILE": "***"}


def test_writing_the_environment_imports_no_torch(tmp_path):
    code = (
        "import sys; from trn.provenance import write_environment, capture_code;"
        f"write_environment({str(tmp_path)!r}, {{}}); capture_code('.', None);"
        "bad = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "environment.json").exists()


def test_a_job_dir_that_cannot_be_written_only_warns(tmp_path, capsys):
    assert write_environment(tmp_path / "missing" / "dir", {}) is None
    assert "environment.json not written" in capsys.readouterr().err
