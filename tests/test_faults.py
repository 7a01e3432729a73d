"""One real job per fault: a non-finite loss, a full disk, a read-only checkpoint directory.

Each must end ``failed`` with an error that names the problem, keep the previous checkpoint
valid (and ``latest``), and leave no partial file at a final name.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
import userproject
from conftest import wait_until
from test_faults_support import ARGS, Job

from trn.checkpoints.load import load_checkpoint
from trn.checkpoints.meta import verify
from trn.runner.checkpoint import NonFiniteError, check_finite_weights

pytestmark = pytest.mark.slow

LONG = [*ARGS, "trainer.max_epochs=50"]  # outlasts the test: the fault ends it


def assert_clean(checkpoints: Path, refused: str | None = None) -> None:
    """``latest.json`` names a valid checkpoint; every ``.ckpt`` has its meta; no temp files but
    ``refused``'s, a save the directory refused to let trn remove."""
    latest = json.loads((checkpoints / "latest.json").read_text())["meta"]
    verify(checkpoints / latest)
    names = {p.name for p in checkpoints.iterdir()}
    assert not [n for n in names if n.startswith(".tmp-") and n != refused], names
    for ckpt in (n for n in names if n.endswith(".ckpt")):
        assert ckpt[: -len(".ckpt")] + ".meta.json" in names, f"uncommitted {ckpt}"


def test_a_modules_own_optimizer_is_what_a_non_finite_loss_advises_to_change(
    trn_home, tmp_path, monkeypatch
):
    # the module's configure_optimizers takes its lr from its own argument: optimizer.lr,
    # which trn refuses for such a module, would be no fix
    monkeypatch.setenv("PYTHONPATH", userproject.pythonpath(userproject.write(tmp_path / "p")))
    short = ["profile=dev", "devices=cpu", "trainer.max_epochs=1"]
    record = Job(trn_home, "run", *short, *userproject.overrides(), "+model.lr=1e30").finish()
    assert record["state"] == "failed" and "non-finite loss" in record["error"], record
    assert "optimizer.lr" not in record["error"]
    assert "the learning rate the module's configure_optimizers uses" in record["error"]


def test_non_finite_loss_fails_with_its_step_and_commits_nothing_non_finite(trn_home):
    # lr=1e30: the first update makes the weights huge, the next forward overflows
    bad = ["optimizer=sgd", "optimizer.lr=1e30", "checkpoint.every_n_steps=1"]
    record = Job(trn_home, "run", *ARGS, *bad).finish()
    assert record["state"] == "failed", record
    assert "non-finite loss" in record["error"] and "at step 1" in record["error"]
    assert "lower optimizer.lr" in record["error"]  # trn's optimizer group: its lr is the fix
    events = [json.loads(ln) for ln in (Path(record["job_dir"]) / "events.jsonl").open()]
    assert events[-1]["event"] == "job_failed" and events[-1]["step"] == 1
    for meta in (Path(record["job_dir"]) / "checkpoints").glob("*.meta.json"):
        state = load_checkpoint(meta)[1]["state_dict"]
        assert all(bool(torch.isfinite(t).all()) for t in state.values()), meta.name


def test_non_finite_weights_are_never_checkpointed_and_the_parameter_is_named():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"non-finite weights: parameter 1.weight at step 7"):
        check_finite_weights(model, 7)


def test_a_buffer_that_is_infinite_by_design_never_stops_a_job():
    model = torch.nn.Linear(2, 2)
    mask = torch.triu(torch.full((4, 4), float("-inf")), diagonal=1)  # a causal mask
    model.register_buffer("mask", mask)  # persistent: it is in the state_dict
    model.register_buffer("unset", torch.tensor(float("nan")))
    assert "mask" in model.state_dict()
    check_finite_weights(model, 3)  # no error


def test_disk_full_fails_clearly_and_keeps_the_old_checkpoint(trn_home):
    job = Job(trn_home, "run", *LONG)
    checkpoints = job.dir / "checkpoints"
    wait_until(lambda: (checkpoints / "latest.json").exists() or job.exited(), "a checkpoint")
    size = max(p.stat().st_size for p in checkpoints.glob("*.ckpt"))
    # The runner may write no file past size/2 bytes: the next checkpoint cannot fit, as on a
    # full disk (RLIMIT_FSIZE gives EFBIG where a full disk gives ENOSPC; both are OSErrors).
    resource.prlimit(job.record()["runner_pid"], resource.RLIMIT_FSIZE, (size // 2, size // 2))
    record = job.finish()
    assert record["state"] == "failed", record
    assert "cannot write checkpoint" in record["error"] and "File too large" in record["error"]
    assert_clean(checkpoints)


@pytest.mark.skipif(not shutil.which("chattr"), reason="needs chattr (e2fsprogs)")
def test_read_only_checkpoint_dir_fails_clearly_and_keeps_the_old_checkpoint(trn_home):
    job = Job(trn_home, "run", *LONG)
    checkpoints = job.dir / "checkpoints"
    wait_until(lambda: (checkpoints / "latest.json").exists() or job.exited(), "a checkpoint")
    # chmod does not stop root; the immutable attribute does (ext4, xfs, btrfs). Set it between
    # two saves: a temp file being written as it is set could not be removed afterwards.
    for _ in range(100):
        made = subprocess.run(["chattr", "+i", str(checkpoints)], capture_output=True, text=True)
        if made.returncode != 0:
            job.sigkill_all()
            pytest.skip(f"this filesystem has no immutable attribute: {made.stderr.strip()}")
        if not list(checkpoints.glob(".tmp-*")):
            break
        subprocess.run(["chattr", "-i", str(checkpoints)], check=True)
        time.sleep(0.01)
    try:
        record = job.finish()
    finally:
        subprocess.run(["chattr", "-i", str(checkpoints)], check=True)
    assert record["state"] == "failed", record
    assert "cannot write checkpoint" in record["error"]
    assert "Operation not permitted" in record["error"]
    # A save under way as the directory turned read-only (a busy machine can start one between
    # the test's look and its chattr) fails at its rename, and the directory refuses the removal
    # of its temp file too; any other temp file is trn's to have removed.
    failed = record["error"].split("cannot write checkpoint ", 1)[1].split()[0]
    assert_clean(checkpoints, refused=f".tmp-{failed}.ckpt")
