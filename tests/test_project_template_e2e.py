"""A project shaped like lightning-hydra-template, trained by ``trn`` as its author wrote it
(tests/template_project.py, in a temp dir outside the repo): from a subdirectory, with no
TRN_HOME (the project's ``outputs/`` is its home), with its callbacks (trn's early stopping and
learning-rate monitor, its own epoch marker), resumed from ``/``, listed from another
subdirectory, and swept over its ``experiment=`` file. Real processes throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import template_project
from conftest import PATIENCE, read_events

from trn.config.project import ENV


@pytest.fixture
def tpl(tmp_path) -> Path:
    return template_project.write(tmp_path / "blobs")


def trn(*argv: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m trn ARGV`` in ``cwd``, with TRN_HOME only when ``home`` is given."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRN_HOME", ENV)}
    if home is not None:
        env["TRN_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "trn", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=2 * PATIENCE,  # a ceiling for a loaded machine: a job, or a sweep of two
    )


def record(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def epochs_of(job: dict) -> list[dict]:
    events = read_events(Path(job["job_dir"]) / "events.jsonl")
    return [e for e in events if e["event"] == "metrics" and e["phase"] == "epoch"]


def test_callbacks_stop_it_early_and_a_resume_from_the_root_dir_finds_its_paths(tpl):
    # the early stopping's min_delta cannot be met: it stops at the second validation
    job = record(
        trn(
            "run", "--json", "devices=cpu", "trainer.max_epochs=10",
            "callbacks.early_stopping.min_delta=100", "trainer.log_every_n_steps=1",
            cwd=tpl / "src",
        )
    )  # fmt: skip
    home = tpl / "outputs"  # the project's own home, from its src/ directory
    assert Path(job["job_dir"]).is_relative_to(home)
    assert job["state"] == "completed" and len(epochs_of(job)) == 2  # of 10
    assert job["stop_reason"].startswith("early stopping at epoch 1: Monitored metric val/loss")
    ended = read_events(Path(job["job_dir"]) / "events.jsonl")[-1]
    assert ended["event"] == "job_completed" and ended["reason"] == job["stop_reason"]
    assert job["metrics"]["lr-Adam"] == pytest.approx(0.01)  # the learning-rate monitor
    assert all("lr-Adam" in e["metrics"] for e in epochs_of(job))
    job_dir = Path(job["job_dir"])
    assert (job_dir / "epochs.txt").read_text() == "epoch 0\nepoch 1\n"  # its own callback
    assert (job_dir / "trained.txt").read_text() == "lr=0.01\n"  # ${paths.output_dir}
    assert (tpl / "data" / "blobs.csv").is_file()  # data/ from the root, not from src/
    assert not (tpl / "src" / "data" / "blobs.csv").exists()

    listed = trn("list", "--json", cwd=tpl / "configs" / "experiment")  # another subdirectory
    assert [r["job_id"] for r in record(listed)] == [job["job_id"]]
    status = trn("status", job["job_id"], cwd=tpl)
    assert status.returncode == 0 and f"{home} (chosen by the project at {tpl})" in status.stdout
    assert "stop_reason:" in status.stdout

    # from /, which is no project: the home is named, the rest comes from the job's record
    resumed = record(trn("resume", job["job_id"], "--json", cwd=Path("/"), home=home))
    assert resumed["state"] == "completed" and resumed["parent_job_id"] == job["job_id"]
    again = Path(resumed["job_dir"])
    assert again != job_dir and (again / "epochs.txt").read_text() == "epoch 2\n"
    assert (job_dir / "epochs.txt").read_text() == "epoch 0\nepoch 1\n"  # the parent's stays
    config = (again / "config.yaml").read_text()
    assert f"output_dir: {again}" in config and "${trn:job_dir}" not in config


def test_a_sweep_over_its_experiment_trains_each_job_in_the_project_root(tpl):
    proc = trn(
        "run", "-m", "--json", "devices=cpu", "experiment=example", "model.lr=0.01,0.03",
        "trainer.log_every_n_steps=2",
        cwd=tpl / "src",
    )  # fmt: skip
    summary = record(proc)
    assert summary["counts"] == {"completed": 2}, proc.stderr[-3000:]
    listed = record(trn("list", "--json", "--sweep", summary["sweep_id"], cwd=tpl))
    jobs = [j for j in listed if j["job_id"] in {row["job_id"] for row in summary["jobs"]}]
    assert len(jobs) == 2
    lrs = sorted(float((Path(j["job_dir"]) / "trained.txt").read_text()[3:]) for j in jobs)
    assert lrs == [0.01, 0.03]  # the sweep's values over the experiment's 0.02
    for job in jobs:
        assert len(epochs_of(job)) == 3  # the experiment's trainer.max_epochs
        assert "lr-Adam" not in job["metrics"]  # its `override /callbacks: none`
