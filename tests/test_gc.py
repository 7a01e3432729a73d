"""``trn gc``: what it selects, what it never touches, and a SIGKILL half way through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import FAST, ROOT, run_trn

from trn.jobdir import JobDir
from trn.lifecycle.end import append_manifest
from trn.registry.record import JobRecord
from trn.registry.store import Registry
from trn.registry.thin import best_meta

DAY = 86400.0


def _stamp(ago_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - ago_s))


def _job(home: Path, state: str, ago_s: float = 0.0, files: int = 0, **fields) -> dict:
    """A job dir with a record, a config.yaml, ``files`` files, and (ended) a manifest line."""
    registry = Registry(home)
    job_id, job_dir = registry.create_job_dir()
    config = {"resume": fields.pop("resume", None), "weights": None}
    (job_dir / "config.yaml").write_text(yaml.safe_dump(config))
    for i in range(files):
        (job_dir / f"f{i:04d}.bin").write_bytes(b"x" * 100)
    ended = _stamp(ago_s) if state not in ("running", "submitted") else None
    record = JobRecord(job_id, str(job_dir), state=state, ended_at=ended, **fields)
    registry.write(record)
    if ended:
        append_manifest(home, record)
    return record.to_dict()


def _listed(home: Path) -> dict[str, str]:
    proc = run_trn("list", "--all", "--json", env={"TRN_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    return {r["job_id"]: r["state"] for r in json.loads(proc.stdout)}


def _manifest_ids(home: Path) -> set[str]:
    path = home / "jobs" / "index.jsonl"
    return (
        {json.loads(ln)["job_id"] for ln in path.read_text().splitlines()}
        if path.exists()
        else set()
    )


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_gc_lists_first_and_deletes_only_with_yes(cli, trn_home, live_pid):
    old_failed = _job(trn_home, "failed", 40 * DAY, files=3)
    new_cancelled = _job(trn_home, "cancelled", 1 * DAY)
    completed = _job(trn_home, "completed", 40 * DAY)
    running = _job(trn_home, "running", pid=live_pid)
    lost = _job(trn_home, "running", pid=_dead_pid())  # its supervisor is gone: lost
    # lost too, but its runner still runs: never touched
    lost_runner = _job(trn_home, "running", pid=_dead_pid(), runner_pid=live_pid)

    code, out, _ = cli("gc", "--json")
    listed = json.loads(out)
    assert code == 0 and listed["deleted"] is False
    assert sorted(listed["jobs"]) == sorted(
        [old_failed["job_id"], new_cancelled["job_id"], lost["job_id"]]
    )
    assert {k["job_id"] for k in listed["kept"]} == {lost_runner["job_id"]}
    assert listed["bytes"] >= 300
    assert set(_listed(trn_home)) >= set(listed["jobs"])  # listing deleted nothing

    code, out, _ = cli("gc", "--older-than", "30d", "--yes")
    assert code == 0 and "freed" in out
    left = _listed(trn_home)
    assert old_failed["job_id"] not in left and not Path(old_failed["job_dir"]).exists()
    for kept in (new_cancelled, completed, running, lost, lost_runner):
        assert kept["job_id"] in left and Path(kept["job_dir"]).is_dir()
    assert left[running["job_id"]] == "running"
    assert old_failed["job_id"] not in _manifest_ids(trn_home)
    assert completed["job_id"] in _manifest_ids(trn_home)
    assert Registry(trn_home).reindex() == len(left)  # the job dirs agree with the index

    code, out, _ = cli("gc", "--state", "completed", "--yes")
    assert code == 0 and completed["job_id"] not in _listed(trn_home)
    assert running["job_id"] in _listed(trn_home)


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


def test_a_job_a_kept_job_resumed_from_is_kept(cli, trn_home):
    parent = _job(trn_home, "preempted", 40 * DAY)
    meta = Path(parent["job_dir"]) / "checkpoints" / "e000-s0000004-stop.meta.json"
    meta.parent.mkdir()
    meta.write_text("{}")
    child = _job(trn_home, "completed", resume=str(meta), parent_job_id=parent["job_id"], attempt=2)
    loader = _job(trn_home, "failed", 40 * DAY)  # failed, but a kept job loads its checkpoint
    weights = Path(loader["job_dir"]) / "w.meta.json"
    weights.write_text("{}")
    _job(trn_home, "completed", resume=str(weights))
    code, out, _ = cli("gc", "--state", "preempted,failed", "--json")
    plan = json.loads(out)
    assert plan["jobs"] == []
    why = {k["job_id"]: k["why"] for k in plan["kept"]}
    assert child["job_id"] in why[parent["job_id"]] and "w.meta.json" in why[loader["job_id"]]
    # once the child goes too, so may its parent
    code, out, _ = cli("gc", "--state", "preempted,completed", "--json")
    assert {parent["job_id"], child["job_id"]} <= set(json.loads(out)["jobs"])


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--older-than", "yesterday"], "--older-than 'yesterday'"),
        (["--state", "finished"], "unknown state"),
        (["--state", "running"], "never collected"),
        (["--checkpoints", "all"], "best,last"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, trn_home, argv, needle):
    victim = _job(trn_home, "failed", 40 * DAY)
    code, out, err = cli("gc", *argv, "--yes")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert Path(victim["job_dir"]).is_dir()  # nothing deleted


def test_sigkill_half_way_leaves_no_half_deleted_job_listed(trn_home):
    jobs = [_job(trn_home, "failed", 40 * DAY, files=400) for _ in range(30)]
    keep = _job(trn_home, "completed", 40 * DAY)
    env = {**os.environ, "TRN_HOME": str(trn_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "gc", "--yes"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trash = trn_home / "trash"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        gone = sum(not Path(j["job_dir"]).exists() for j in jobs)
        if gone >= 3 and trash.is_dir() and any(trash.iterdir()):
            break
        time.sleep(0.001)
    assert proc.poll() is None, "gc finished before it could be killed: give it more files"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    listed = _listed(trn_home)
    removed = [j for j in jobs if j["job_id"] not in listed]
    assert 0 < len(removed) < len(jobs)
    for j in jobs:
        if j["job_id"] in listed:  # listed: whole
            assert len(list(Path(j["job_dir"]).iterdir())) == 402, j["job_id"]
    assert Registry(trn_home).reindex() == len(listed)  # nothing half-deleted comes back

    assert run_trn("gc", "--yes", env={"TRN_HOME": str(trn_home)}).returncode == 0
    assert set(_listed(trn_home)) == {keep["job_id"]}
    assert not any(trash.iterdir())
    assert _manifest_ids(trn_home) == {keep["job_id"]}


@pytest.mark.slow
def test_thinning_real_checkpoints_keeps_newest_best_and_resumed_from(trn_home):
    env = {"TRN_HOME": str(trn_home)}
    proc = run_trn(
        "run",
        "--json",
        *FAST,
        "checkpoint.every_n_steps=1",
        "checkpoint.keep_last=20",
        "trainer.max_epochs=2",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    parent = json.loads(proc.stdout)
    ckpts = JobDir(parent["job_dir"]).checkpoints
    metas = sorted(ckpts.glob("*.meta.json"))
    assert len(metas) >= 5
    early = metas[1]  # neither the newest nor (by val/loss after one step) likely the best
    proc = run_trn("resume", "--json", "--checkpoint", str(early), env=env)
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout)
    assert child["state"] == "completed" and child["parent_job_id"] == parent["job_id"]

    best = best_meta({p.name: json.loads(p.read_text()) for p in metas})
    assert best is not None  # epoch-end checkpoints carry the objective's val metric
    before = {
        r["job_id"]: r["bytes"]
        for r in json.loads(run_trn("list", "--size", "--json", env=env).stdout)
    }
    table = run_trn("list", "--size", env=env).stdout
    assert "SIZE" in table.splitlines()[0]
    proc = run_trn("gc", "--checkpoints", "best,last", "--yes", env=env)
    assert proc.returncode == 0, proc.stderr
    after = {
        r["job_id"]: r["bytes"]
        for r in json.loads(run_trn("list", "--size", "--json", env=env).stdout)
    }
    assert after[parent["job_id"]] < before[parent["job_id"]]

    left = {p.name for p in ckpts.glob("*.meta.json")}
    latest = json.loads((ckpts / "latest.json").read_text())["meta"]
    if (ckpts / "best.json").exists():
        assert json.loads((ckpts / "best.json").read_text())["meta"] in left
    assert {latest, best, early.name} <= left and len(left) < len(metas)
    for name in left:  # every kept meta still has its whole .ckpt
        meta = json.loads((ckpts / name).read_text())
        assert (ckpts / meta["ckpt"]).stat().st_size == meta["bytes"]
    assert len(list(ckpts.glob("*.ckpt"))) == len(left)  # no .ckpt left without its meta
    # the parent's newest still resumes
    proc = run_trn("resume", "--dry-run", parent["job_id"], env=env)
    assert proc.returncode == 0, proc.stderr
