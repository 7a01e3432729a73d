"""``trn resume SWEEP``: a sweep killed mid-way (the sweep process, its supervisors and runners,
all SIGKILLed) is resumed: every point completed exactly once, the job numbers continuous,
nothing of the first run overwritten. Basic and Optuna sweeps; the refusals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, run_trn
from sweep_support import (
    by_point,
    file_hashes,
    kill_everything,
    read_json,
    start_sweep,
    sweep_dir,
    sweep_records,
    wait_for,
)

from trn.events.schema import validate_file

# long enough that a job is caught half way (a checkpoint per epoch), short on 2 busy cores
JOB = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=30",
    "trainer.limit_val_batches=2",
    "checkpoint.every_n_epochs=1",
    "hydra.launcher.cpu_slots=2",
]


def _half_way(trn_home: Path, done: int) -> bool:
    """``done`` jobs completed, and one running with a checkpoint of its first third (of 30
    epochs): far from its end when the sweep is killed a moment later."""
    records = sweep_records(trn_home)
    completed = [r for r in records if r["state"] == "completed"]
    early = re.compile(r"/e00\d-s\d+-epoch\.meta\.json$")
    saved = [
        r for r in records if r["state"] == "running" and early.search(r.get("checkpoint") or "")
    ]
    return len(completed) >= done and bool(saved)


@pytest.mark.slow
def test_a_killed_sweep_resumes_every_point_exactly_once(trn_home: Path) -> None:
    proc = start_sweep(trn_home, *JOB, "seed=1,2,3,4,5,6")
    wait_for(lambda: _half_way(trn_home, 1), what="a job done and one half way")
    kill_everything(proc, trn_home)
    sdir = sweep_dir(trn_home)
    before = sweep_records(trn_home)
    first_run = file_hashes(sdir)
    job_files = {r["job_id"]: file_hashes(Path(r["job_dir"])) for r in before}
    killed = [r for r in before if r["state"] in ("lost", "running")]
    assert killed and len(before) < 6, [(r["job_id"], r["state"]) for r in before]

    status = run_trn("status", sdir.name[:13])  # a prefix of the sweep's id names it
    assert status.returncode == 0 and "running" not in status.stdout.splitlines()[0]

    resumed = run_trn("resume", sdir.name, "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    assert summary["counts"] == {"completed": 6} and summary["attempt"] == 2
    assert "2 attempt" not in resumed.stderr and "attempt 2" in resumed.stderr

    records = sweep_records(trn_home)
    points = by_point(records)
    assert sorted(points) == list(range(6))
    for point, jobs in points.items():
        assert [j["state"] for j in jobs].count("completed") == 1, (point, jobs)
    nums = sorted(r["sweep_num"] for r in records)
    assert nums == list(range(len(records))), "job numbers continue, none reused"
    children = 0
    for r in killed:  # each killed job ended, and continued from its checkpoint
        ended = next(x for x in records if x["job_id"] == r["job_id"])
        child = next((c for c in records if c.get("parent_job_id") == r["job_id"]), None)
        if ended["state"] == "completed":  # its runner had finished: as its outcome.json says
            assert child is None and (Path(r["job_dir"]) / "outcome.json").exists()
            continue
        assert ended["state"] == "preempted"
        saved = list((Path(r["job_dir"]) / "checkpoints").glob("*.meta.json"))
        if not saved:  # killed before its first save: its point starts afresh
            assert child is None
            continue
        children += 1
        assert child and child["state"] == "completed"
        assert child["attempt"] == 2 and child["sweep_point"] == r["sweep_point"]
        config = (Path(child["job_dir"]) / "config.yaml").read_text()
        assert f"resume: {r['job_dir']}/checkpoints/" in config
    assert children >= 1, "the job caught at its first checkpoint went on from it"
    for job_id, files in job_files.items():  # nothing of the first run was overwritten
        now = file_hashes(Path(next(r for r in records if r["job_id"] == job_id)["job_dir"]))
        assert all(now.get(k) == v for k, v in files.items() if k != "job.json"), job_id
    after = file_hashes(sdir)
    assert all(after[k] == v for k, v in first_run.items() if k not in ("sweep.json",))
    assert (sdir / "attempt-2" / "multirun.yaml").exists()
    started = [e for e in validate_file(sdir / "events.jsonl") if e["event"] == "sweep_started"]
    assert [e.get("sweep_attempt") for e in started] == [1, 2]
    tries = read_json(sdir / "sweep.json")["attempts"]  # the sweep's record lists its attempts
    assert [t["attempt"] for t in tries] == [1, 2] and tries[0]["pid"] == proc.pid

    again = run_trn("resume", sdir.name)  # nothing left: one line, exit 1
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "nothing left to do" in again.stderr and "6 kept" in again.stderr
    shown = run_trn("status", sdir.name, "--json")
    assert [a["state"] for a in json.loads(shown.stdout)["attempts"]] == [None, "completed"]


@pytest.mark.slow
def test_a_killed_optuna_sweep_resumes_its_study_to_n_trials(trn_home: Path) -> None:
    pytest.importorskip("optuna", reason="pip install -c constraints-cpu.txt -e '.[optuna]'")
    import optuna

    proc = start_sweep(
        trn_home,
        *JOB,
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.sampler.seed=0",
        "optimizer.lr=tag(log, interval(0.001, 0.05))",
    )
    wait_for(lambda: _half_way(trn_home, 1), what="a trial done and one half way")
    kill_everything(proc, trn_home)
    sdir = sweep_dir(trn_home)
    from trn.launcher.optuna import storage

    study = optuna.load_study(study_name=sdir.name, storage=storage(sdir))
    assert 2 <= len(study.trials) < 5 or any(
        t.state == optuna.trial.TrialState.RUNNING for t in study.trials
    )

    resumed = run_trn("resume", sdir.name[:15], "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = optuna.load_study(study_name=sdir.name, storage=storage(sdir))
    assert len(study.trials) == 5, "the study goes on toward n_trials, never past it"
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    records = sweep_records(trn_home)
    points = by_point(records)
    assert sorted(points) == [t.number for t in study.trials]
    for trial in study.trials:  # each trial: exactly one completed job, with its value
        done = [j for j in points[trial.number] if j["state"] == "completed"]
        assert len(done) == 1 and done[0]["metrics"]["val/acc"] == pytest.approx(trial.value)
        assert any(
            f"optimizer.lr={trial.params['optimizer.lr']}" in o for o in done[0]["overrides"]
        )
    nums = sorted(r["sweep_num"] for r in records)
    assert nums == list(range(len(records)))
    assert run_trn("resume", sdir.name).returncode == 1


def test_resume_refuses_a_running_sweep_an_incomplete_dir_and_a_changed_space(
    trn_home: Path, cli
) -> None:
    """Each refusal: one line, exit 2, nothing written."""
    from trn.registry.sweeps import new_sweep_dir, record_process, sweep_events

    sweep_id, sdir = new_sweep_dir(trn_home)
    code, out, err = cli("resume", sweep_id)
    assert code == 2 and "incomplete" in err and err.count("\n") == 1
    overrides = ["profile=dev", "devices=cpu", "optimizer.lr=0.1,0.01"]
    (sdir / "space.json").write_text(json.dumps({"overrides": overrides, "sweeper": "basic"}))
    events = sweep_events(sdir, sweep_id, trn_home)
    events.emit("sweep_started", sweep_dir=str(sdir), overrides=overrides, jobs=2,
                sweeper="basic", objective={"metric": "val/acc", "mode": "max"})  # fmt: skip
    events.close()
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        record_process(sdir, sweep_id, 2, pid=runner.pid)  # a live process runs it
        code, out, err = cli("resume", sweep_id)
    finally:
        runner.kill()
        runner.wait()
    assert code == 2 and "is running" in err and f"trn cancel {sweep_id}" in err

    record_process(sdir, sweep_id, 2, pid=2**22 + 7)  # no such process: it was lost
    space = read_json(sdir / "space.json")
    space["points"] = [["optimizer.lr=0.1"], ["optimizer.lr=0.01"], ["optimizer.lr=1"]]
    (sdir / "space.json").write_text(json.dumps(space))
    code, out, err = cli("resume", sweep_id)
    assert code == 2 and "search space (3 points then, 2 now)" in err and "--force" in err
    assert not (trn_home / "runs").exists()
    code, out, err = cli("resume", sweep_id, "optimizer.lr=3")
    assert code == 2 and "drop 'optimizer.lr=3'" in err
    code, out, err = cli("resume", "nosuchsweep")
    assert code == 1 and "no job" in err


@pytest.mark.slow
def test_a_changed_base_config_is_refused_and_force_accepts_it(trn_home: Path, tmp_path) -> None:
    """A user's project whose config file changed after its sweep ran: the resume names the
    key; --force takes the new config (here: nothing is left to run, exit 1)."""
    from project_files import make_project

    project = make_project(tmp_path / "proj")
    sweep = run_trn("run", "-m", "--json", *FAST, "model=wide", "seed=1,2", cwd=project)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    sweep_id = json.loads(sweep.stdout)["sweep_id"]
    (project / "conf" / "model" / "wide.yaml").write_text(
        "_target_: projnet.models.WideNet\nwidth: 32\n"
    )
    refused = run_trn("resume", sweep_id, cwd=tmp_path)  # from elsewhere: the sweep knows
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "model.width: 16 -> 32" in refused.stderr and "--force" in refused.stderr
    forced = run_trn("resume", sweep_id, "--force", cwd=tmp_path)
    assert forced.returncode == 1 and "nothing left to do (2 kept)" in forced.stderr


@pytest.mark.slow
def test_a_cancelled_detached_sweep_resumes_detached_from_python_and_over_http(
    trn_home: Path,
) -> None:
    """`trn cancel` a detached sweep half way; `trn.api.resume_sweep` continues it detached
    (its cancelled jobs from their checkpoints); then `POST /sweeps/{id}/resume` of the done
    sweep is 409, of one that is not there 404."""
    from serve_support import Server

    from trn import api
    from trn.errors import NothingToDo

    started = run_trn("run", "-m", "--detach", "--json", *JOB, "seed=1,2,3")
    assert started.returncode == 0, started.stderr
    sid = json.loads(started.stdout)["sweep_id"]
    wait_for(lambda: _half_way(trn_home, 0), what="a job half way")
    cancelled = run_trn("cancel", sid[:15], timeout=300)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout

    info = api.resume_sweep(sid[:15], home=trn_home)
    assert info["sweep_id"] == sid and info["attempt"] == 2
    summary_file = Path(info["sweep_dir"]) / "summary.json"
    done = wait_for(
        lambda: summary_file.exists() and read_json(summary_file).get("attempt") == 2,
        what="the resumed sweep's summary",
    )
    assert done
    summary = read_json(summary_file)
    assert summary["state"] == "completed" and summary["counts"] == {"completed": 3}
    resumed = [r for r in sweep_records(trn_home) if r.get("parent_job_id")]
    assert resumed and all(r["state"] == "completed" for r in resumed)
    with pytest.raises(NothingToDo):
        api.resume_sweep(sid, home=trn_home)

    server = Server(trn_home).start()
    try:
        with server.client() as http:
            reply = http.post(f"/sweeps/{sid[:15]}/resume", json={"retry_failed": True})
            assert reply.status_code == 409 and "nothing left to do" in reply.json()["error"]
            assert http.post("/sweeps/261201-x/resume", json={}).status_code == 404
            assert http.post(f"/sweeps/{sid}/resume", json={"bogus": 1}).status_code == 400
    finally:
        server.stop()
