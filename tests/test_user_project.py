"""A user's own project, outside the repo, trained by trn as it is: its LightningModule's own
training_step, metric names and optimizer, its own DataModule; sweeps, DDP, kill and resume.

The project is named by overrides and found through PYTHONPATH for now (userproject.overrides);
once trn finds a project's config dir and root itself, these runs switch to ``--config-dir``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import userproject
from conftest import PATIENCE, read_events, run_trn
from test_faults_support import Job

from trn.events.schema import validate_event

pytestmark = pytest.mark.slow

CPU = ["profile=dev", "devices=cpu", "events.heartbeat_s=0"]
ALL_DATA = ["trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = userproject.write(tmp_path / "proj")
    monkeypatch.setenv("PYTHONPATH", userproject.pythonpath(root))
    return root


def trn(*argv: str, cwd: Path | None = None, timeout: float = PATIENCE):
    return run_trn(*argv, cwd=cwd, timeout=timeout)


def events_of(record: dict) -> list[dict]:
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    for event in events:
        validate_event(event)
    return events


def test_its_own_module_trains_with_its_own_loss_metrics_and_optimizer(trn_home, project):
    proc = trn(
        "run", *CPU, *ALL_DATA, *userproject.overrides(), "+model.lr=0.03",
        "trainer.max_epochs=12", "checkpoint.every_n_epochs=1", "checkpoint.keep_last=1",
        "checkpoint.save_best=true", "events.metrics_every_n_steps=1", "--json",
        cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed"
    events = events_of(record)
    started = next(e for e in events if e["event"] == "job_started")
    assert started["module"] == "lightning" and started["task"] is None
    assert started["optimizer_from"] == "module" and started["resume_exact"] is False

    steps = [e for e in events if e["event"] == "metrics" and e["phase"] == "train"]
    assert len(steps) == 12 * 16  # 512 samples / 32 a batch: an event every step
    assert all(set(e["metrics"]) == {"fit/rmse", "lr"} for e in steps)
    assert {e["metrics"]["lr"] for e in steps} == {0.03}  # its Adam, not trn's AdamW (0.003)
    epochs = [e for e in events if e["event"] == "metrics" and e["phase"] == "epoch"]
    assert len(epochs) == 12
    assert all({"fit/rmse", "check/mse", "check/rmse"} <= set(e["metrics"]) for e in epochs)
    assert not any("train/loss" in e["metrics"] or "val/acc" in e["metrics"] for e in events
                   if e["event"] == "metrics")  # fmt: skip

    # its own MSE trained it: the target (mean 20, variance 7.1) is no class id to cross-entropy
    final = record["metrics"]
    assert final["check/mse"] < 0.25 * userproject.TARGET_VARIANCE, final
    assert steps[-1]["metrics"]["fit/rmse"] < steps[0]["metrics"]["fit/rmse"] / 5

    # the objective is its own metric: the best checkpoint is the one with the least check/rmse
    saved = [e for e in events if e["event"] == "checkpoint_saved"]
    best = min(saved, key=lambda e: e["metrics"]["check/rmse"])
    ckpts = Path(record["job_dir"]) / "checkpoints"
    assert json.loads((ckpts / "best.json").read_text())["meta"] == Path(best["meta_path"]).name
    assert (ckpts / Path(best["meta_path"]).name).exists()

    listed = json.loads(trn("list", "--json").stdout)
    assert listed[0]["metrics"]["check/rmse"] == final["check/rmse"]
    status = trn("status", record["job_id"])
    assert status.returncode == 0 and "check/rmse" in status.stdout and "fit/rmse" in status.stdout


def test_an_objective_it_never_logs_fails_at_the_first_validation_naming_what_it_logs(
    trn_home, project
):
    """Chosen on the command line (even trn's own default metric, val/acc): an error."""
    argv = [a for a in userproject.overrides() if not a.startswith("objective.")]
    argv.append("objective.metric=val/acc")
    proc = trn("run", *CPU, *argv, "trainer.max_epochs=3", "--json", cwd=project)
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["state"] == "failed"
    assert record["error"] == (
        "ObjectiveError: objective.metric=val/acc is never logged by the module (it logs: "
        "check/mse, check/rmse, fit/rmse); set objective.metric to one of them"
    )
    events = events_of(record)
    epochs = [e for e in events if e["event"] == "metrics" and e["phase"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0]  # it stopped at the first epoch's end
    assert not [e for e in events if e["event"] == "checkpoint_saved"]


def test_an_objective_nobody_chose_never_fails_it_and_best_is_then_the_last_checkpoint(
    trn_home, project
):
    """trn's default, val/acc, which it never logs, nor val/loss or any other fallback: it
    trains on, says so, and has no best."""
    argv = [a for a in userproject.overrides() if not a.startswith("objective.")]
    proc = trn("run", *CPU, *argv, "trainer.max_epochs=2", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed"
    assert record["objective"] == {"metric": None, "mode": "max", "source": "fallback"}
    (warning,) = [w for w in record["warnings"] if "objective" in w]
    assert warning.startswith("objective.metric=val/acc (trn's default) is never logged")
    assert "(it logs: check/mse, check/rmse, fit/rmse)" in warning
    assert "the last one stands for it" in warning and warning in proc.stderr  # a warning line
    events = events_of(record)
    started = next(e for e in events if e["event"] == "job_started")
    assert started["objective"] == {"metric": "val/acc", "mode": "max", "source": "default"}
    said = next(e for e in events if e["event"] == "warning" and "objective" in e)
    assert said["objective"] == record["objective"]
    assert not (Path(record["job_dir"]) / "checkpoints" / "best.json").exists()
    status = trn("status", record["job_id"])
    assert "objective:     nothing: the last checkpoint stands for the best" in status.stdout


def test_it_sweeps_over_a_hyperparameter_of_its_own_module(trn_home, project):
    proc = trn(
        "run", "-m", *CPU, *userproject.overrides(), "+model.hidden=2,24", "+model.lr=0.03",
        "trainer.max_epochs=3", "trainer.limit_train_batches=1.0", "--json", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 2}
    records = [json.loads(trn("status", j["job_id"], "--json").stdout) for j in summary["jobs"]]
    import yaml

    hidden = {}
    for r in records:
        config = yaml.safe_load((Path(r["job_dir"]) / "config.yaml").read_text())
        hidden[config["model"]["hidden"]] = r["metrics"]["check/rmse"]
    assert set(hidden) == {2, 24}
    # ranked by its own objective (check/rmse, min): the sweep's best is the lower of the two
    assert summary["best"]["value"] == min(hidden.values())


def test_it_runs_under_cpu_ddp_with_its_code_in_both_ranks(trn_home, project, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = trn(
        "run", *CPU, *userproject.overrides(), f"+model.mark_dir={marks}",
        "devices.processes=2", "trainer.max_epochs=2", "--json", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed"
    ranks = sorted(p.name.split("-")[0] for p in marks.iterdir())
    assert ranks == ["rank0", "rank1"]  # the module was built and set up in both processes
    assert len({p.name.split("-")[1] for p in marks.iterdir()}) == 2
    events = events_of(record)
    started = next(e for e in events if e["event"] == "job_started")
    assert started["world_size"] == 2 and started["strategy"] == "DDPStrategy"
    assert any(e["event"] == "metrics" and "check/rmse" in e["metrics"] for e in events)


def test_sigkill_then_resume_restarts_the_interrupted_epoch(trn_home, project, monkeypatch):
    monkeypatch.chdir(project)
    argv = [
        *CPU, *userproject.overrides(), *ALL_DATA, "trainer.max_epochs=3",
        "checkpoint.every_n_steps=5", "checkpoint.keep_last=5", "events.metrics_every_n_steps=1",
        "events.flush_s=0",
    ]  # fmt: skip
    job = Job(trn_home, "run", *argv)
    job.wait_step(23)  # epoch 1 (16 steps an epoch); the step-20 checkpoint is mid-epoch
    job.sigkill_all()
    killed = job.record()
    metas = sorted((job.dir / "checkpoints").glob("*.meta.json"))
    latest = json.loads((job.dir / "checkpoints" / "latest.json").read_text())["meta"]
    step = json.loads((job.dir / "checkpoints" / latest).read_text())["step"]
    assert metas and step % 16, f"the newest checkpoint ({latest}) should be mid-epoch"

    # the allowlist is never taken from a checkpoint: the user trusts the package again
    resumed = Job(trn_home, "resume", killed["job_id"], "allow_targets=[userpkg.]").finish()
    assert resumed["state"] == "completed", resumed
    events = events_of(resumed)
    started = next(e for e in events if e["event"] == "job_started")
    assert started["resume_exact"] is False
    outcome = json.loads((Path(resumed["job_dir"]) / "outcome.json").read_text())
    assert outcome["resume_exact"] is False and resumed["resume_exact"] is False
    # the interrupted epoch ran again from its start: 16 more steps from the checkpoint to its
    # end, then the last epoch; steps keep counting from the checkpoint's
    first = next(e for e in events if e["event"] == "metrics" and e["phase"] == "train")
    assert first["step"] == step + 1 and first["epoch"] == step // 16
    assert outcome["step"] == step + 16 * (3 - step // 16)
    assert "check/rmse" in resumed["metrics"]


def test_its_module_feeds_itself_with_no_data_config(trn_home, project):
    proc = trn("run", *CPU, *userproject.overrides("OwnData", data=False), "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and "check/rmse" in record["metrics"]


def test_a_module_without_training_step_is_refused_before_any_job_dir(trn_home, project):
    proc = trn("run", *CPU, *userproject.overrides("NoStep"), cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "trn run: error: model._target_=userpkg.models.NoStep: this LightningModule has no "
        "training_step; define one"
    ]
    assert not (trn_home / "runs").exists()
    refused = trn("run", *CPU, *userproject.overrides(), "optimizer.lr=0.1", cwd=project)
    assert refused.returncode == 2 and "is a LightningModule" in refused.stderr
    assert not (trn_home / "runs").exists()
