"""A user's project trains as real processes: from inside it (pyproject discovery) and from
elsewhere (--config-dir, TRN_CONFIG_DIR), under CPU DDP, in a sweep and detached; every process
that builds the project's model imported it from the project root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import FAST, run_trn, wait_until
from project_files import LR, PACKAGE, make_project

from trn.config.project import ENV


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(ENV, raising=False)
    (tmp_path / "elsewhere").mkdir()
    return make_project(tmp_path / "proj")


def marks(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def trained(proc, mark: Path, processes: int = 1) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed", record.get("error")
    config = yaml.safe_load(Path(record["config_path"]).read_text())
    assert config["model"]["_target_"] == f"{PACKAGE}.models.WideNet"
    assert config["optimizer"]["lr"] == LR  # the project's adamw.yaml, not trn's
    built = marks(mark)
    assert len({line.split()[2] for line in built}) == processes, built
    return record


@pytest.mark.slow
def test_trains_from_inside_the_project(project, trn_home, tmp_path):
    mark = tmp_path / "mark"
    proc = run_trn(
        "run", "--json", "model=wide", *FAST, cwd=project / PACKAGE, env={"PROJNET_MARK": str(mark)}
    )
    trained(proc, mark)


@pytest.mark.slow
def test_trains_from_elsewhere_with_the_flag_and_under_ddp_with_the_variable(
    project, trn_home, tmp_path
):
    elsewhere = tmp_path / "elsewhere"
    mark = tmp_path / "mark-flag"
    cd = str(project / "conf")
    proc = run_trn(
        "run", "--json", "-cd", cd, "model=wide", *FAST, cwd=elsewhere,
        env={"PROJNET_MARK": str(mark)},
    )  # fmt: skip
    trained(proc, mark)
    mark = tmp_path / "mark-ddp"
    proc = run_trn(
        "run", "--json", "model=wide", *FAST, "devices.processes=2", cwd=elsewhere,
        env={"PROJNET_MARK": str(mark), ENV: cd}, timeout=300,
    )  # fmt: skip
    record = trained(proc, mark, processes=2)  # both ranks built the project's model
    assert record["devices"] == ["cpu", "cpu"]


@pytest.mark.slow
def test_a_sweep_over_the_projects_model_option(project, trn_home, tmp_path):
    """Started inside the project: the sweep names its config dir to every job process."""
    mark = tmp_path / "mark"
    proc = run_trn(
        "run", "-m", "--json", *FAST, "hydra.launcher.cpu_slots=2", "model=wide,mlp",
        cwd=project, env={"PROJNET_MARK": str(mark)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 2}
    # the wide job, in its own process, imported the project and knew its config dir
    assert [line.split()[3] for line in marks(mark)] == [f"config_dir={project / 'conf'}"]


@pytest.mark.slow
def test_a_detached_job_from_elsewhere(project, trn_home, tmp_path):
    mark = tmp_path / "mark"
    elsewhere = tmp_path / "elsewhere"
    env = {"PROJNET_MARK": str(mark)}
    proc = run_trn(
        "run", "--detach", "--json", "-cd", str(project / "conf"), "model=wide", *FAST,
        cwd=elsewhere, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job_id = json.loads(proc.stdout)["job_id"]
    record = wait_until(
        lambda: (
            (r := json.loads(run_trn("status", job_id, "--json", cwd=elsewhere).stdout))["state"]
            not in ("submitted", "running")
            and r
        ),
        f"job {job_id} ended",
        every=0.5,
    )
    assert record["state"] == "completed", record.get("error")
    assert len(marks(mark)) == 1


@pytest.mark.slow
def test_resume_from_another_directory_finds_the_projects_code(project, trn_home, tmp_path):
    mark = tmp_path / "mark"
    env = {"PROJNET_MARK": str(mark)}
    first = run_trn("run", "--json", "model=wide", *FAST, cwd=project, env=env)
    job = trained(first, mark)
    assert job["project"]["project_root"] == str(project)
    proc = run_trn(
        "resume", job["job_id"], "trainer.max_epochs=2", "--json",
        cwd=tmp_path / "elsewhere", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = json.loads(proc.stdout)
    assert resumed["state"] == "completed" and resumed["parent_job_id"] == job["job_id"]
    assert resumed["project"] == job["project"] and len(marks(mark)) == 2


@pytest.mark.slow
def test_optuna_over_a_hyperparameter_of_the_projects_model(project, trn_home, tmp_path):
    """Optuna's jobs are planned in their own processes, started from elsewhere: they find the
    project through TRN_CONFIG_DIR, which the flag set for the whole command."""
    pytest.importorskip("optuna", reason="pip install '.[optuna]'")
    mark = tmp_path / "mark"
    proc = run_trn(
        "run", "-m", "--json", "-cd", str(project / "conf"), *FAST, "model=wide",
        "hydra.launcher.cpu_slots=2", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.seed=0", "model.width=choice(4,24)",
        cwd=tmp_path / "elsewhere", env={"PROJNET_MARK": str(mark)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 2}
    assert len(marks(mark)) == 2
