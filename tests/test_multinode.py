"""Multi-node training on a real two-node Slurm cluster (``bash scripts/slurm-two-node.sh start``,
as root): two network namespaces are the hosts node1 and node2, with a filesystem they share.

A user's project in a temp dir runs ``trn run -m hydra/launcher=slurm`` on node1, as on a login
node; the job's ranks run on both nodes. What is checked: a 2-node DDP job completes (one record,
its hosts, a checkpoint, each rank's log), a cancel from node2 and a Ctrl-C on node1 end it
``cancelled`` and end the sweep, and no process of it is left on either node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import userproject
from conftest import PATIENCE, ROOT, wait_until

from trn.registry.store import Registry

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SCRIPT = ROOT / "scripts" / "slurm-two-node.sh"
NAMESPACES = {1: "s2n-n1", 2: "s2n-n2"}  # the script's node namespaces
SLURM = ["hydra/launcher=slurm", "hydra.launcher.poll_s=0.5"]
SMALL = [
    "profile=dev",
    "devices=cpu",
    "events.heartbeat_s=0",
    *userproject.overrides(),
    "trainer.limit_val_batches=1",
]
SHORT = ["trainer.max_epochs=1", "trainer.limit_train_batches=4"]
LONG = ["trainer.max_epochs=1000", "trainer.limit_train_batches=40"]
# what of the cluster itself lives in its namespaces; anything else there is a job's leftover
CLUSTER = ("slurmctld", "slurmd", "slurmscriptd", "sleep infinity")


@pytest.fixture(scope="module")
def two_nodes() -> None:
    """The two-node cluster is up, or skip saying why it cannot be used here."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the two-node Slurm cluster needs Linux network namespaces and root")
    for tool in ("ip", "nsenter", "unshare", "slurmd", "sinfo"):
        if not shutil.which(tool):
            pytest.skip(f"the two-node Slurm cluster needs {tool}: see scripts/slurm-two-node.sh")
    if subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode:
        pytest.skip("the two-node Slurm cluster is not up: `bash scripts/slurm-two-node.sh start`")


@pytest.fixture
def project(tmp_path: Path, trn_home: Path, monkeypatch) -> Path:
    root = userproject.write(tmp_path / "proj")
    monkeypatch.setenv("PYTHONPATH", userproject.pythonpath(root))
    return root


def on_node(node: int, argv: list[str], cwd: Path, pidfile: Path | None = None) -> list[str]:
    """``argv`` run on ``node`` (its pid written to ``pidfile``: the process a Ctrl-C reaches)."""
    inner = (
        argv if pidfile is None else ["sh", "-c", f'echo $$ > {pidfile}; exec "$@"', "sh", *argv]
    )
    return ["bash", str(SCRIPT), "exec", str(node), *inner]


def trn_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "trn", *args]


def start_sweep(project: Path, pidfile: Path, *overrides: str) -> subprocess.Popen:
    argv = trn_argv("run", "-m", "--json", *SMALL, *SLURM, *overrides)
    return subprocess.Popen(
        on_node(1, argv, project, pidfile),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, what: str):
    return wait_until(predicate, what, every=0.5)


def the_record(trn_home: Path) -> dict | None:
    if not (trn_home / "runs").exists():
        return None
    records = [r.to_dict() for r in Registry(trn_home).scan()]
    return records[0] if records else None


def training(trn_home: Path) -> dict | None:
    """The job's record once its ranks train (a metrics event: every rank has joined)."""
    record = the_record(trn_home)
    if record is None:
        return None
    events = Path(record["job_dir"]) / "events.jsonl"
    if not events.exists():
        return None
    lines = events.read_text().splitlines()
    return record if any(json.loads(line)["event"] == "metrics" for line in lines) else None


def leftovers() -> list[str]:
    """The processes on either node other than the cluster's own."""
    left = []
    for node, ns in NAMESPACES.items():
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in pids.split():
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # ended meanwhile
            if not any(ours in args for ours in CLUSTER):
                left.append(f"node{node}: {pid} {args.strip()}")
    return left


def assert_nothing_left() -> None:
    """Once Slurm has ended the job, nothing of it runs on either node (polled: a step's end
    takes Slurm a moment)."""
    deadline = time.monotonic() + PATIENCE
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers() == []


def test_a_two_node_ddp_sweep_completes_with_hosts_and_each_ranks_log(
    two_nodes, project, trn_home, tmp_path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    argv = trn_argv("run", "-m", "--json", *SMALL, *SHORT, *SLURM, "devices.num_nodes=2")
    argv += [f"+model.mark_dir={marks}", "+model.hidden=8,16"]  # 2 jobs of 2 nodes each
    proc = subprocess.run(
        on_node(1, argv, project), cwd=project, capture_output=True, text=True, timeout=PATIENCE
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"completed": 2}
    records = sorted((r.to_dict() for r in Registry(trn_home).scan()), key=lambda r: r["job_id"])
    assert len(records) == 2  # one record a job, whatever its number of ranks
    for record in records:
        assert record["state"] == "completed" and record["host"] == "node1"
        assert record["hosts"] == ["node1", "node2"]
        assert record["devices"] == ["node1:cpu0", "node2:cpu1"]
        assert record["checkpoint"] and Path(record["checkpoint"]).exists()
    ranks = sorted(p.name.split("-")[0] for p in marks.iterdir())  # the project's code ran there
    assert ranks == ["rank0", "rank0", "rank1", "rank1"]
    record = records[0]
    job_dir = Path(record["job_dir"])
    rank1 = (job_dir / "runner.rank1.log").read_text().splitlines()
    assert rank1[0] == "trn: rank 1 on node2"
    assert any("GLOBAL_RANK: 1" in line for line in rank1)
    shown = subprocess.run(
        trn_argv("logs", record["job_id"], "--rank", "1"), capture_output=True, text=True
    )
    assert shown.returncode == 0 and shown.stdout.splitlines() == rank1
    assert_nothing_left()


def test_trn_cancel_from_node2_ends_the_job_cancelled_and_the_sweep(
    two_nodes, project, trn_home, tmp_path
) -> None:
    proc = start_sweep(project, tmp_path / "sweep.pid", *LONG, "devices.num_nodes=2")
    try:
        record = wait_for(lambda: training(trn_home), "both ranks to train")
        cancel = subprocess.run(
            on_node(2, trn_argv("cancel", record["job_id"], "--json"), project),
            cwd=project,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert cancel.returncode == 0, cancel.stderr
        assert json.loads(cancel.stdout)["state"] == "cancelled"
        out, err = proc.communicate(timeout=PATIENCE)  # the sweep ends: it waits on nothing
    finally:
        proc.kill()
    assert json.loads(out)["counts"] == {"cancelled": 1}, err
    record = Registry.read(Path(record["job_dir"]))
    assert record["state"] == "cancelled" and record["error"] == "received SIGINT"
    assert "-stop.meta.json" in record["checkpoint"]  # saved where the ranks stopped
    assert_nothing_left()


@pytest.mark.parametrize(
    "layout", [["devices.num_nodes=2"], ["devices.processes=2"]], ids=["2-nodes", "1-node-2-ranks"]
)
def test_ctrl_c_on_the_sweep_ends_a_multi_task_job_cancelled(
    two_nodes, project, trn_home, tmp_path, layout
) -> None:
    pidfile = tmp_path / "sweep.pid"
    proc = start_sweep(project, pidfile, *LONG, *layout)
    try:
        record = wait_for(lambda: training(trn_home), "the ranks to train")
        os.kill(int(pidfile.read_text()), signal.SIGINT)
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        proc.kill()
    assert proc.returncode == 130, err  # a sweep's Ctrl-C
    assert json.loads(out)["counts"] == {"cancelled": 1}, err
    record = Registry.read(Path(record["job_dir"]))
    assert record["state"] == "cancelled", record  # not failed on a reset gloo connection
    assert "-stop.meta.json" in record["checkpoint"]
    assert_nothing_left()


def kill_node(node: int) -> None:
    """What a node's death does to the job: every process on it dies at once, its slurmd too
    (only the namespace's holder stays, so that the node can come back)."""
    pids = subprocess.run(["ip", "netns", "pids", NAMESPACES[node]], capture_output=True, text=True)
    for pid in pids.stdout.split():
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not args.startswith("sleep infinity"):
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue  # ended meanwhile


def test_a_node_that_dies_fails_the_job_naming_it_and_the_sweep_ends(
    two_nodes, project, trn_home, tmp_path
) -> None:
    every = "checkpoint.every_n_steps=5"
    proc = start_sweep(project, tmp_path / "sweep.pid", *LONG, "devices.num_nodes=2", every)
    try:
        record = wait_for(lambda: training(trn_home), "both ranks to train")
        saved = lambda: Registry.read(Path(record["job_dir"]))["checkpoint"]  # noqa: E731
        wait_for(saved, "a checkpoint")
        kill_node(2)
        # rank 0 loses its peer at once; Slurm would hold the job until it gives node2 up
        # (minutes): the sweep cancels it, and does not wait for a node that never answers
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        proc.kill()
        subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True)  # node2 comes back
    assert json.loads(out)["counts"] == {"failed": 1}, err
    record = Registry.read(Path(record["job_dir"]))
    assert record["state"] == "failed" and "10.250.0.2 (node2)" in record["error"], record
    assert record["checkpoint"]  # the newest one before the loss: `trn resume` continues it
    assert_nothing_left()  # node1's part of the job ends too, once Slurm has settled it


def on_node1(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(on_node(1, list(argv), ROOT), cwd=ROOT, capture_output=True, text=True)


def test_a_preempted_two_node_job_resumes_bitwise_equal_to_the_uninterrupted_one(
    two_nodes, tmp_path
) -> None:
    """Slurm's preemption warning (USR2) stops both ranks with a checkpoint; the requeued job
    resumes it with the same world size, every rank at its own next sample."""
    from test_faults_support import ARGS, assert_bitwise_equal, final_state

    exact = [*ARGS, "trainer.max_epochs=2", "trainer.limit_train_batches=20", "devices.num_nodes=2"]
    homes = {name: tmp_path / name for name in ("reference", "preempted")}

    def sweep(home: Path) -> subprocess.Popen:
        argv = trn_argv("run", "-m", "--json", *exact, *SLURM)
        cmd = on_node(1, ["env", f"TRN_HOME={home}", *argv], ROOT)
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    reference = sweep(homes["reference"])
    out, err = reference.communicate(timeout=PATIENCE)
    assert json.loads(out)["counts"] == {"completed": 1}, err
    proc = sweep(homes["preempted"])
    try:
        first = wait_for(lambda: training(homes["preempted"]), "both ranks to train")
        slurm_id = first["extra"]["slurm_job_id"]
        on_node1("scancel", "--signal=USR2", slurm_id)  # Slurm's warning before a preemption
        wait_for(lambda: Registry.read(Path(first["job_dir"]))["state"] == "preempted", "preempted")
        wait_for(
            lambda: (
                on_node1("squeue", "-h", "-o", "%T", "-j", slurm_id).stdout.split() == ["PENDING"]
            ),
            "the requeued Slurm job",
        )
        time.sleep(5)  # as tests/test_slurm.py: slurmd forgets the old run's credential first
        on_node1("scontrol", "update", f"JobId={slurm_id}", "StartTime=now")
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        proc.kill()
    assert json.loads(out)["counts"] == {"completed": 1}, err
    records = {r.attempt: r.to_dict() for r in Registry(homes["preempted"]).scan()}
    meta = json.loads(Path(records[1]["checkpoint"]).read_text())
    assert 0 < meta["step"] < 40 and records[2]["resume_exact"] is True, (meta, records[2])
    assert records[2]["hosts"] == ["node1", "node2"] and records[2]["warnings"] == []
    want = Registry.read(next(homes["reference"].glob("runs/*/*/*/*")))["checkpoint"]
    assert_bitwise_equal(final_state(records[2]["checkpoint"]), final_state(want))
