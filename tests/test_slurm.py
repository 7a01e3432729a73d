"""``hydra/launcher=slurm`` on a real one-node Slurm (``bash scripts/slurm-local.sh start``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, PATIENCE, ROOT, run_trn, wait_until

from trn.events.schema import validate_file
from trn.registry.store import Registry

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
DEFAULT_CONF = Path(os.environ.get("TRN_SLURM_DIR", "/tmp/trn-slurm")) / "slurm.conf"
SLURM = ["hydra/launcher=slurm", "hydra.launcher.poll_s=0.5"]
LONG = ["trainer.max_epochs=1000", "trainer.limit_train_batches=40"]


@pytest.fixture
def slurm(monkeypatch) -> str:
    """SLURM_CONF of a running cluster, or skip saying how to start one."""
    conf = os.environ.get("SLURM_CONF") or str(DEFAULT_CONF)
    why = "Slurm is not running: `bash scripts/slurm-local.sh start` (as root) starts a one-node cluster"
    if not shutil.which("sinfo") or not Path(conf).exists():
        pytest.skip(why)
    env = {**os.environ, "SLURM_CONF": conf}
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env)
    up = {"idle", "mixed", "allocated", "completing"}
    if out.returncode or not up & {state.rstrip("*~#") for state in out.stdout.split()}:
        pytest.skip(why)
    monkeypatch.setenv("SLURM_CONF", conf)
    return conf


def start_sweep(trn_home: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "-m", "--json", *FAST, *SLURM, *overrides],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRN_HOME": str(trn_home)},
    )


def wait_for(predicate, what: str = "condition"):
    return wait_until(predicate, what, every=0.5)


def records(trn_home: Path) -> list[dict]:
    if not (trn_home / "runs").exists():
        return []
    return sorted((r.to_dict() for r in Registry(trn_home).scan()), key=lambda r: r["job_id"])


def test_each_sweep_job_is_a_slurm_job_and_ranks_follow_slurm(slurm: str, trn_home: Path) -> None:
    """Job 1 is 2-process DDP: 2 Slurm tasks, Lightning's SLURMEnvironment gives the ranks."""
    proc = run_trn("run", "-m", "--json", *FAST, *SLURM, "devices.processes=1,2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 2}
    for record in records(trn_home):
        processes = 2 if "devices.processes=2" in record["overrides"] else 1
        assert record["extra"]["slurm_job_id"] and record["sweep_id"] == summary["sweep_id"]
        node = socket.gethostname().split(".")[0]  # Slurm's node name (slurm-local.sh)
        assert record["devices"] == [f"{node}:cpu{i}" for i in range(processes)]
        assert record["hosts"] == [node]
        assert record["start"] == "cold"  # Slurm's allocation, not a warm parent's
        events = validate_file(Path(record["job_dir"]) / "events.jsonl")
        assert [e["event"] for e in events][0] == "job_submitted"
        assert events[-1]["event"] == "job_completed"
        sizes = {e["world_size"] for e in events if "world_size" in e}
        assert sizes == {processes}  # only rank 0 writes events, and it saw the whole world
    validate_file(trn_home / "events.jsonl")


def test_a_queued_job_shows_slurm_state_and_trn_cancel_scancels_it(slurm, trn_home, cli):
    blocker = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-c",
            str(os.cpu_count()),
            "--output",
            os.devnull,
            "--wrap",
            "sleep 120",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    proc = start_sweep(trn_home, "seed=1")
    try:
        record = wait_for(lambda: records(trn_home), what="the job record")[0]
        job = record["job_id"]
        wait_for(
            lambda: Registry.read(Path(record["job_dir"]))["extra"].get("slurm_job_id"),
            what="sbatch",
        )
        code, out, _ = cli("status", job, "--json")
        status = json.loads(out)
        assert status["state"] == "submitted" and status["slurm_state"] == "PENDING"
        code, out, err = cli("cancel", job, "--json")
        assert code == 0, err
        assert json.loads(out)["state"] == "cancelled"
        out, err = proc.communicate(timeout=PATIENCE)
        assert proc.returncode == 1, err
        assert json.loads(out)["counts"] == {"cancelled": 1}
    finally:
        subprocess.run(["scancel", blocker.stdout.strip()], check=False)
        if proc.poll() is None:
            proc.kill()


def test_a_preempted_job_is_requeued_and_resumes_from_its_checkpoint(slurm, trn_home, cli):
    proc = start_sweep(trn_home, *LONG, "seed=3")
    try:
        first = wait_for(
            lambda: [r for r in records(trn_home) if r["state"] == "running" and r.get("metrics")],
            what="a running job",
        )[0]
        slurm_id = first["extra"]["slurm_job_id"]
        subprocess.run(["scancel", "--signal=USR2", slurm_id], check=True)  # Slurm's warning
        wait_for(
            lambda: Registry.read(Path(first["job_dir"]))["state"] == "preempted",
            what="the job to be preempted",
        )

        # a requeued job waits out a begin time: once it is pending again, let it start now
        def pending_again() -> bool:
            out = subprocess.run(
                ["squeue", "-h", "-o", "%T", "-j", slurm_id], capture_output=True, text=True
            ).stdout.split()
            return out == ["PENDING"]

        wait_for(pending_again, what="the requeued Slurm job")
        # Slurm holds a requeued job back so that slurmd forgets the old run's revoked credential;
        # starting it at once can hit "Job credential revoked" and kill it (seen under load).
        time.sleep(5)
        subprocess.run(["scontrol", "update", f"JobId={slurm_id}", "StartTime=now"], check=True)
        child = wait_for(
            lambda: [
                r
                for r in records(trn_home)
                if r.get("parent_job_id") == first["job_id"]
                and r["state"] == "running"
                and r.get("metrics")  # past start-up: a cancel now checkpoints
            ],
            what="the resumed job",
        )[0]
        assert child["attempt"] == 2 and child["sweep_id"] == first["sweep_id"]
        assert child["extra"]["slurm_job_id"] == slurm_id
        code, out, err = cli("cancel", child["job_id"], "--json")
        assert code == 0 and json.loads(out)["state"] == "cancelled", err
        out, err = proc.communicate(timeout=PATIENCE)
        summary = json.loads(out)
        # one point: its newest job (the requeued resume) counts; the preempted one it took over
        assert summary["counts"] == {"cancelled": 1} and summary["superseded"] == 1
        parent = Registry.read(Path(first["job_dir"]))
        assert parent["checkpoint"] and Path(parent["checkpoint"]).exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
