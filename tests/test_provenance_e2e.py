"""Real jobs of a project in a temp git repo: the code and environment they record, `trn diff`
between them, and `trn best` of a real sweep."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import FAST, run_trn
from prov_support import GIT_ENV, git, make_repo

from trn.registry.record import JobRecord
from trn.registry.store import Registry

pytestmark = pytest.mark.slow


def run_job(project: Path, *overrides: str) -> JobRecord:
    proc = run_trn("run", "--json", *FAST, *overrides, cwd=project, env=GIT_ENV)
    assert proc.returncode == 0, proc.stderr
    return Registry().find(json.loads(proc.stdout)["job_id"])


def test_jobs_record_their_code_and_diff_shows_what_changed(trn_home, tmp_path):
    project = make_repo(tmp_path / "proj")
    clean = run_job(project, "optimizer.lr=0.001")
    code = clean.code
    assert code["commit"] == git(project, "rev-parse", "HEAD") and code["dirty"] is False
    env = json.loads((Path(clean.job_dir) / "environment.json").read_text())
    assert env["versions"]["torch"] and env["packages"]["torch"] == env["versions"]["torch"]
    assert env["cwd"] == str(project)

    (project / "train.py").write_text("lr = 0.003\n")
    (project / "extra.py").write_text("new = True\n")
    dirty = run_job(project, "optimizer.lr=0.003")
    code = dirty.code
    assert code["dirty"] is True and code["untracked"] == ["extra.py"]
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(project), str(checkout)], check=True)
    git(checkout, "apply", "--check", str(Path(dirty.job_dir) / "code.patch"))

    proc = run_trn("diff", clean.job_id[:15], dirty.job_id, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["config"] == [
        {"key": "optimizer.lr", "a": 0.001, "b": 0.003, "status": "changed"}
    ]
    by_key = {row["key"]: row for row in result["code"]}
    assert by_key["dirty"]["a"] is False and by_key["dirty"]["b"] is True
    assert "commit" not in by_key  # the same commit
    text = run_trn("diff", clean.job_id, dirty.job_id).stdout
    config_section = text.split("config:\n")[1].split("code:")[0]
    assert config_section.strip() == "optimizer.lr: 0.001 -> 0.003"


def test_best_of_a_real_sweep_names_its_best_job_and_an_existing_checkpoint(trn_home):
    proc = run_trn(
        "run", "-m", "--json", *FAST, "hydra.launcher.cpu_slots=2", "optimizer.lr=0.0001,0.003,0.05"
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    records = Registry(trn_home).list(sweep_id=summary["sweep_id"], limit=None)
    assert len(records) == 3
    expected = max(records, key=lambda r: (r.metrics["val/acc"], r.job_id))
    proc = run_trn("best", "--sweep", summary["sweep_id"], "--json")
    assert proc.returncode == 0, proc.stderr
    best = json.loads(proc.stdout)
    assert best["job_id"] == expected.job_id and best["metric"] == "val/acc"
    assert best["value"] == expected.metrics["val/acc"]
    assert Path(best["checkpoint"]["ckpt"]).is_file()
    assert best["checkpoint"]["job_id"] == expected.job_id
    lowest = run_trn(
        "best", "--sweep", summary["sweep_id"], "--metric", "val/loss", "--mode", "min"
    )
    assert min(records, key=lambda r: r.metrics["val/loss"]).job_id in lowest.stdout


def test_rerun_runs_the_resolved_config_again_and_warns_when_the_code_moved(trn_home, tmp_path):
    project = make_repo(tmp_path / "proj")
    first = run_job(project, "optimizer.lr=0.001")
    proc = run_trn(
        "rerun", first.job_id[:11], "optimizer.lr=0.003", "--json", cwd=project, env=GIT_ENV
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr  # same commit, still clean
    again = Registry().find(json.loads(proc.stdout)["job_id"])
    assert again.rerun_of == first.job_id and again.state == "completed"
    import yaml

    before = yaml.safe_load(Path(first.config_path).read_text())
    after = yaml.safe_load(Path(again.config_path).read_text())
    assert after["optimizer"].pop("lr") == 0.003 and before["optimizer"].pop("lr") == 0.001
    assert after == before

    (project / "train.py").write_text("lr = 0.5\n")  # a tracked file edited since
    strict = run_trn("rerun", first.job_id, "--strict", cwd=project, env=GIT_ENV)
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert len(strict.stderr.strip().splitlines()) == 1 and "uncommitted" in strict.stderr
    dry = run_trn("rerun", first.job_id, "--dry-run", cwd=project, env=GIT_ENV)
    assert dry.returncode == 0 and "trn rerun: warning:" in dry.stderr


def test_a_project_outside_git_keeps_a_snapshot_of_its_source_and_diff_compares_it(
    trn_home, tmp_path
):
    import tarfile

    from project_files import PACKAGE, make_project

    project = make_project(tmp_path / "nogit")
    (project / "notes.json").write_text(
        "[" + "0," * 200_000 + "0]"
    )  # "source" by name; data by size
    (project / "weights.bin").write_bytes(b"\0" * 1000)  # not source: never copied, never listed
    (project / "outputs").mkdir()
    (project / "outputs" / "stale.py").write_text("x = 1\n")  # trn's home: never copied
    first = run_job(project, "model=wide")
    code = first.code
    assert code["repo"] is None and code["snapshot"] == "code.tar.gz" and code["files"] == 5
    assert any(s.startswith("notes.json (") and "over 256 KiB" in s for s in code["skipped"])
    with tarfile.open(Path(first.job_dir) / "code.tar.gz") as tar:
        names = set(tar.getnames())
    assert f"{PACKAGE}/models.py" in names and "conf/model/wide.yaml" in names
    assert not any(n.startswith("outputs/") or n == "weights.bin" for n in names)

    models = project / PACKAGE / "models.py"
    models.write_text(models.read_text() + "\n# width matters\n")
    second = run_job(project, "model=wide")
    proc = run_trn("diff", first.job_id, second.job_id, "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    changed = {row["key"] for row in json.loads(proc.stdout)["code"]}
    assert changed == {f"file {PACKAGE}/models.py"}  # the one file that changed, by name

    proc = run_trn("rerun", first.job_id, "--dry-run", cwd=project)
    assert "its source files differ from its code.tar.gz" in proc.stderr
