"""Resume planning through the CLI (``--dry-run``: nothing starts): what it restores and refuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from test_checkpoint import JOB, write_checkpoint

from trn.config.validate import load
from trn.registry.record import JobRecord
from trn.registry.store import Registry


@pytest.fixture
def job(trn_home) -> Path:
    """A preempted job (attempt 2) whose checkpoint holds a real composed config."""
    job_dir = trn_home / "runs" / "2026" / "11" / "28" / JOB
    job_dir.mkdir(parents=True)
    Registry(trn_home).write(
        JobRecord(job_id=JOB, job_dir=str(job_dir), state="preempted", attempt=2)
    )
    config = load(["profile=dev", "devices=cpu", "optimizer.lr=0.01"])
    write_checkpoint(
        job_dir / "checkpoints",
        "e000-s0000004-stop",
        {"x": torch.zeros(1)},
        4,
        config=config,
        attempt=2,
    )
    return job_dir


def meta(job: Path) -> Path:
    return job / "checkpoints" / "e000-s0000004-stop.meta.json"


@pytest.mark.parametrize(
    "argv",
    [
        ["resume", JOB[:15]],
        ["resume", "--checkpoint", "META"],
        ["run", "resume=JOB", "profile=prod"],  # the group choice is ignored: config from the meta
    ],
)
def test_resume_plan_restores_the_config_and_counts_the_attempt(cli, job, argv):
    argv = [a.replace("META", str(meta(job))).replace("=JOB", f"={JOB}") for a in argv]
    argv = [a for a in argv if a != "profile=prod"]
    code, out, err = cli(*argv, "trainer.max_epochs=5", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["attempt"] == 3 and plan["parent_job_id"] == JOB
    assert plan["config"]["resume"] == str(meta(job)) == plan["resume"]
    assert plan["config"]["optimizer"]["lr"] == 0.01  # from the checkpoint, not conf/
    assert plan["config"]["trainer"]["max_epochs"] == 5  # the override on top
    assert not list(Registry().runs_dir.glob("*/*/*/*/config.yaml"))  # nothing started


@pytest.mark.parametrize(
    "override, reason",
    [
        ("model.hidden=[3]", "changes the model"),
        ("model=mlp", "changes the model"),
        ("data.path=other", "changes the dataset"),
        ("optimizer=sgd", "changes the optimizer type"),
        ("weights=x.pt", "initialises a new model"),
        ("trainer.nope=1", "no key 'trainer.nope'"),
        ("trainer.max_epochs=1,2", "plain key=value"),
    ],
)
def test_shape_changing_overrides_are_refused_with_the_reason(cli, job, override, reason):
    code, out, err = cli("resume", JOB, override, "--dry-run")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and override in err and reason in err


def test_allowlist_is_never_taken_from_a_checkpoint(cli, job):
    body = json.loads(meta(job).read_text())
    body["config"]["allow_targets"] = ["os."]
    body["config"]["model"]["_target_"] = "os.system"
    meta(job).write_text(json.dumps(body))
    code, _, err = cli("resume", JOB, "--dry-run")
    assert code == 2 and "model._target_=os.system is not in the instantiate allowlist" in err


def test_nothing_to_resume(cli, job, trn_home):
    assert cli("resume", "--dry-run")[0] == 2
    code, _, err = cli("resume", JOB, "--checkpoint", str(meta(job)), "--dry-run")
    assert code == 2 and "not both" in err
    (job / "checkpoints" / "e000-s0000004-stop.ckpt").write_bytes(b"torn")
    code, _, err = cli("resume", JOB, "--dry-run")
    assert code == 1 and "has no valid checkpoint" in err
    code, _, err = cli("resume", "--checkpoint", str(meta(job)), "--dry-run")
    assert code == 2 and "e000-s0000004-stop.ckpt" in err and "Traceback" not in err
    code, _, err = cli("resume", "--checkpoint", str(trn_home / "none.meta.json"))
    assert code == 1 and "no such checkpoint meta" in err


@pytest.mark.parametrize(
    "name, epoch, reason, refused",
    [
        ("e001-s0000016-epoch", 1, "epoch", True),  # epochs 0 and 1 of profile=dev's 2 done
        ("e002-s0000016-end", 2, "end", True),  # the end save: Lightning counted epoch 1 already
        ("e000-s0000008-epoch", 0, "epoch", False),  # one epoch left
        ("e001-s0000016-stop", 1, "stop", False),  # maybe mid-epoch: always resumes
    ],
)
def test_a_resume_with_no_epoch_left_is_refused_with_the_fix(
    cli, job, name, epoch, reason, refused
):
    config = load(["profile=dev", "devices=cpu"])
    assert config["trainer"]["max_epochs"] == 2
    write_checkpoint(
        job / "checkpoints", name, {"x": torch.zeros(1)}, 16, config=config, epoch=epoch,
        reason=reason,
    )  # fmt: skip
    code, _, err = cli("resume", JOB, "--dry-run")
    if refused:
        assert code == 2 and err.count("\n") == 1, err
        assert f"nothing to resume: checkpoint {name} has trained all 2 epochs" in err
        assert "raise it, e.g. trainer.max_epochs=" in err
        code, _, err = cli("resume", JOB, "trainer.max_epochs=3", "--dry-run")
    assert code == 0, err


def test_weights_are_checked_at_plan_time(cli, job, tmp_path):
    code, _, err = cli("run", "weights=" + str(tmp_path / "missing.pt"), "--dry-run")
    assert code == 1 and "missing.pt: no such file" in err
    code, out, err = cli("run", f"weights={meta(job)}", "devices=cpu", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["weights"] == str(meta(job)) and plan["attempt"] == 1
    (job / "checkpoints" / "e000-s0000004-stop.ckpt").write_bytes(b"torn")
    code, _, err = cli("run", f"weights={meta(job)}", "--dry-run")
    assert code == 2 and "truncated or replaced" in err


def test_a_file_that_is_not_a_checkpoint_is_refused_before_a_job_starts(cli, trn_home, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    code, out, err = cli("run", f"weights={text}", "profile=dev")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "notes.txt: not a PyTorch checkpoint" in err and "torch.save" in err
    assert not (trn_home / "runs").exists() or not any((trn_home / "runs").rglob("job.json"))


@pytest.mark.slow
def test_weights_initialise_the_model_and_train_from_step_zero(trn_home):
    from test_faults_support import ARGS, Job, final_state

    short = [*ARGS, "trainer.max_epochs=1"]
    first = Job(trn_home, "run", *short).finish()
    assert first["state"] == "completed", first
    # lr ~ 0: the weights stay where weights= put them, bit for bit
    second = Job(trn_home, "run", *short, f"weights={first['checkpoint']}", "optimizer.lr=1e-30")
    record = second.finish()
    assert record["state"] == "completed" and record["attempt"] == 1, record
    assert json.loads(Path(record["checkpoint"]).read_text())["step"] == 8  # from 0 again
    a, b = final_state(first["checkpoint"]), final_state(record["checkpoint"])
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model/"))

    wrong = Job(trn_home, "run", *short, "model.hidden=[64]", f"weights={first['checkpoint']}")
    failed = wrong.finish()
    assert failed["state"] == "failed"
    assert (
        "does not fit the model: missing keys none, unexpected keys [net.7.bias, net.7.weight]"
        in failed["error"]
    )


def test_a_resumed_job_without_checkpoints_falls_back_to_its_parent(cli, job, trn_home):
    child_dir = job.parent / "261128-130000-kid1"
    child_dir.mkdir()
    child = JobRecord(job_id="261128-130000-kid1", job_dir=str(child_dir), state="running")
    child.attempt, child.parent_job_id = 3, JOB  # killed during its first save: lost
    dead = subprocess.Popen(["true"])
    dead.wait()
    child.pid = dead.pid
    Registry(trn_home).write(child)
    code, out, err = cli("resume", child.job_id, "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["resume"] == str(meta(job))  # the parent's checkpoint
    assert plan["parent_job_id"] == child.job_id and plan["attempt"] == 4


def test_a_job_still_running_here_is_not_resumed_twice(cli, job, trn_home):
    import os

    record = Registry.load(job)
    record.state, record.pid = "running", os.getpid()  # its supervisor: alive, on this host
    Registry(trn_home).write(record)
    code, _, err = cli("resume", JOB, "--dry-run")
    assert code == 2 and f"job {JOB} is still running; stop it first (trn cancel {JOB})" in err


def test_a_resumed_jobs_first_event_says_from_which_job_and_step(job, trn_home):
    """What the console's header and plain lines show: `resumed from JOB at step N`."""
    from trn.lifecycle.resume import plan_resume
    from trn.lifecycle.supervisor import Supervisor
    from trn.text import event_line

    record = Supervisor.create(plan_resume(JOB, [])).hand_off()
    events = [
        json.loads(x) for x in (Path(record.job_dir) / "events.jsonl").read_text().splitlines()
    ]
    submitted = events[0]
    assert submitted["event"] == "job_submitted" and submitted["parent_job_id"] == JOB
    assert submitted["resumed_from_step"] == 4  # the step of the checkpoint it continues
    assert f"resumed from {JOB} at step 4" in event_line(submitted)
