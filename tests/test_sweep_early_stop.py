"""Early stopping of a sweep's trials (``sweep.early_stop``), ``--fail-fast``, and what a sweep
shows while it runs: real subprocess sweeps, their records, events and timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST, read_events, run_trn
from sweep_support import start_sweep, sweep_dir, sweep_records, wait_for

from trn.events.schema import validate_file
from trn.registry.early_stop import Report, Rule, decide
from trn.timestamps import seconds

ASHA = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=6",
    "trainer.limit_val_batches=2",
    "hydra.launcher.cpu_slots=1",  # one slot: a trial starts only when the one before ends
    "sweep.early_stop=asha",
    "sweep.reduction_factor=2",
]


def test_asha_arithmetic_follows_ray_and_median_follows_optuna() -> None:
    rule = Rule("asha", "val/acc", "max", grace=1, reduction_factor=3, max_t=27)
    assert rule.rungs() == [1, 3, 9]
    first = Report(0, "a", 1, 0.5)
    assert decide(rule, first, [], set()) is None  # the first at a rung goes on
    earlier = [Report(p, f"j{p}", 1, v) for p, v in enumerate([0.2, 0.4, 0.6, 0.8])]
    # the 2/3 quantile of 0.2..0.8 is 0.6: 0.59 stops, 0.6 goes on
    stopped = decide(rule, Report(9, "x", 1, 0.59), earlier, set())
    assert stopped is not None and stopped.rung == 1 and stopped.cutoff == pytest.approx(0.6)
    assert decide(rule, Report(9, "x", 1, 0.6), earlier, set()) is None
    assert decide(rule, Report(9, "x", 2, 0.1), [*earlier, Report(9, "x", 1, 0.7)], set()) is None
    low = Rule("asha", "val/loss", "min", grace=1, reduction_factor=2, max_t=4)
    assert decide(low, Report(2, "y", 1, 0.9), [Report(1, "z", 1, 0.3)], set()).cutoff == 0.3
    median = Rule("median", "val/acc", "max", grace=2, min_trials=2, max_t=10)
    done = [Report(p, f"j{p}", t, 0.5 + 0.1 * p) for p in (0, 1) for t in (1, 2, 3)]
    assert decide(median, Report(5, "m", 1, 0.1), done, {0, 1}) is None  # before grace
    assert decide(median, Report(5, "m", 2, 0.1), done, {0}) is None  # too few completed
    assert decide(median, Report(5, "m", 2, 0.1), done, {0, 1}).cutoff == pytest.approx(0.55)
    assert decide(median, Report(5, "m", 2, 0.6), done, {0, 1}) is None


@pytest.mark.slow
def test_asha_stops_the_worst_trials_at_the_first_rung_and_hands_their_slot_on(
    trn_home: Path,
) -> None:
    proc = run_trn(
        "run", "-m", "--json", *ASHA, "checkpoint.every_n_epochs=1",
        "optimizer.lr=0.01,0.000001,0.000002,0.02",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]  # a pruned trial is no failure
    summary = json.loads(proc.stdout)
    records = sorted(sweep_records(trn_home), key=lambda r: r["sweep_num"])
    states = [r["state"] for r in records]
    assert states[0] == "completed" and states[1:3] == ["pruned", "pruned"], states
    for slow, after in zip(records[1:3], records[2:4], strict=True):
        assert slow["pruned"]["rule"] == "asha" and slow["pruned"]["rung"] == 1
        assert "asha:" in slow["error"] and slow["checkpoint"]  # its last checkpoint kept
        events = validate_file(Path(slow["job_dir"]) / "events.jsonl")
        epochs = {e["epoch"] for e in events if e.get("phase") == "epoch"}
        assert epochs == {0}, "stopped after the first epoch (the first rung)"
        assert events[-1]["event"] == "job_pruned" and events[-1]["pruned"]["t"] == 1
        # its slot went on: the next trial started once it ended, long before it would have
        # ended had it trained all six epochs as the first trial did
        full = seconds(records[0]["ended_at"]) - seconds(records[0]["started_at"])
        gap = seconds(after["created_at"]) - seconds(slow["ended_at"])
        assert 0 <= gap < full, (gap, full)
        took = seconds(slow["ended_at"]) - seconds(slow["started_at"])
        assert took < full
    assert summary["counts"]["pruned"] >= 2 and summary["jobs"][0]["state"] == "completed"
    reports = (sweep_dir(trn_home) / "trials.jsonl").read_text().splitlines()
    assert {json.loads(line)["point"] for line in reports} == {0, 1, 2, 3}

    again = run_trn("resume", summary["sweep_id"], "--include-pruned", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    after = {r["job_id"]: r for r in sweep_records(trn_home)}
    for slow in records[1:3]:  # continued from their checkpoints to the end
        child = next(r for r in after.values() if r.get("parent_job_id") == slow["job_id"])
        assert child["state"] == "completed" and child["sweep_point"] == slow["sweep_point"]
        events = read_events(Path(child["job_dir"]) / "events.jsonl")
        assert [e["epoch"] for e in events if e.get("phase") == "epoch"] == [1, 2, 3, 4, 5]


def test_an_early_stop_schedule_that_cannot_stop_anything_is_refused(trn_home: Path, cli):
    code, out, err = cli("run", "-m", *FAST, "sweep.early_stop=asha", "seed=1,2")
    assert code == 2 and err.count("\n") == 1 and "sweep.grace=1" in err
    assert "trainer.max_epochs=1" in err and not (trn_home / "sweeps").exists()
    code, out, err = cli("run", "-m", *FAST, "sweep.early_stop=hyperband", "seed=1,2")
    assert code == 2 and "sweep.early_stop" in err
    code, out, err = cli("run", *FAST, "--fail-fast")
    assert code == 2 and "add -m" in err


@pytest.mark.slow
def test_fail_fast_cancels_the_rest_and_names_the_failure_first(trn_home: Path) -> None:
    long = ["trainer.max_epochs=200", "hydra.launcher.cpu_slots=2"]
    proc = run_trn(
        "run", "-m", "--json", "--fail-fast", *FAST, *long,
        "optimizer.lr=0.003,1e30,0.001",  # 1e30: planned fine, fails at its first steps
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    first = summary["jobs"][0]
    assert summary["state"] == "failed" and summary["first_failure"] == first["job_id"]
    assert first["state"] == "failed" and "NonFiniteError" in first["error"]
    assert "--fail-fast" in summary["error"]
    others = [r["state"] for r in sweep_records(trn_home) if r["job_id"] != first["job_id"]]
    assert others and set(others) == {"cancelled"}, others  # the third never started
    plain = run_trn("status", summary["sweep_id"])
    assert "--fail-fast: job" in plain.stdout.splitlines()[0]


@pytest.mark.slow
def test_status_of_a_running_sweep_shows_its_real_time_and_running_jobs(trn_home: Path) -> None:
    proc = start_sweep(trn_home, *FAST, "trainer.max_epochs=300", "hydra.launcher.cpu_slots=2",
                       "seed=1,2")  # fmt: skip
    try:
        wait_for(lambda: len([r for r in sweep_records(trn_home) if r["state"] == "running"]) == 2,
                 what="two running jobs")  # fmt: skip
        sid = sweep_dir(trn_home).name

        def shown() -> dict:
            return json.loads(run_trn("status", sid[:15], "--json").stdout)

        first = wait_for(lambda: (s := shown())["duration_s"] > 1 and s, what="a second")
        assert first["state"] == "running" and first["counts"].get("running") == 2
        assert all(j["duration_s"] > 0 for j in first["jobs"])
        line = run_trn("status", sid[:15]).stdout.splitlines()[0]
        assert line.startswith(f"sweep {sid} running in ") and "2 running" in line
        assert "0.0s" not in line and "no jobs" not in line
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=180)


def test_a_failed_jobs_real_cause_in_one_line_that_fits(trn_home: Path, tmp_path) -> None:
    """The innermost cause of a failure (a model's own ValueError, wrapped by Hydra's
    instantiate), in one line no wider than the terminal, without Hydra's noise."""
    from trn.launcher.summary import render, summarize
    from trn.registry.record import JobRecord, view

    error = (
        "InstantiationException: Error in call to target 'userpkg.models.Net':\n"
        "AssertionError('embed_dim must be divisible by num_heads')\nfull_key: model"
    )
    record = JobRecord.from_dict({
        "job_id": "261207-050241-ab12", "job_dir": str(tmp_path), "state": "failed",
        "error": error,
        "overrides": ["model.embed_dim=10", "model.num_heads=3", "optimizer.lr=" + "1" * 60],
        "created_at": "2026-12-07T05:02:41.000Z", "ended_at": "2026-12-07T05:02:51.000Z",
    })  # fmt: skip
    job = view(record)
    summary = summarize("261207-050240-zz99", [job], {"metric": "val/acc"}, "completed", 10.0)
    assert summary["jobs"][0]["error"] == "AssertionError: embed_dim must be divisible by num_heads"
    assert summary["jobs"][0]["duration_s"] == 10.0
    for width in (80, 120):
        text = render(summary, width)
        assert all(len(line) <= width for line in text.splitlines()), text
        assert "Error executing job" not in text and "InstantiationException" not in text
        assert "AssertionError: embed_dim" in text


@pytest.mark.slow
def test_a_sweep_of_a_module_that_raises_shows_the_cause_not_hydra(trn_home, tmp_path) -> None:
    from project_files import make_project

    project = make_project(tmp_path / "proj")
    (project / "projnet" / "attn.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self, in_features, num_classes, width=8, embed_dim=8, num_heads=2):\n"
        "        super().__init__()\n"
        "        self.attn = nn.MultiheadAttention(embed_dim, num_heads)\n"
    )
    proc = run_trn(
        "run", "-m", *FAST, "model=wide", "model._target_=projnet.attn.Net",
        "+model.embed_dim=10", "+model.num_heads=3,4",
        cwd=project, env={"COLUMNS": "90"},
    )  # fmt: skip
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Error executing job" not in out and "HYDRA_FULL_ERROR" not in out
    table = proc.stdout[proc.stdout.index("sweep ") :].splitlines()
    assert all(len(line) <= 90 for line in table), table
    assert sum("embed_dim must be divisible by num_heads" in line for line in table) == 2
    events = read_events(next(trn_home.glob("sweeps/*/*/*/*/events.jsonl")))
    assert events[-1]["counts"] == {"failed": 2}


@pytest.mark.slow
def test_best_compares_like_objectives_and_sort_follows_the_objective(trn_home: Path) -> None:
    """A sweep maximising val/acc, then one minimising val/loss: `trn best` (no --sweep) ranks
    only the newest objective's jobs, says how many it left out; `trn list --sort val/loss`
    puts the lowest first (the objective says min), `--reverse` the highest."""
    acc = run_trn("run", "-m", "--json", *FAST, "hydra.launcher.cpu_slots=2", "seed=1,2")
    assert acc.returncode == 0, acc.stderr[-2000:]
    loss = run_trn(
        "run", "-m", "--json", *FAST, "hydra.launcher.cpu_slots=2", "seed=3,4",
        "objective.metric=val/loss", "objective.mode=min",
    )  # fmt: skip
    assert loss.returncode == 0, loss.stderr[-2000:]
    loss_sweep = json.loads(loss.stdout)["sweep_id"]
    best = json.loads(run_trn("best", "--json").stdout)
    assert best["metric"] == "val/loss" and best["mode"] == "min"
    assert best["compared"] == 2 and best["left_out"] == 2 and best["sweep_id"] == loss_sweep
    assert "left out" in run_trn("best").stdout
    by_prefix = json.loads(run_trn("best", "--sweep", loss_sweep[:15], "--json").stdout)
    assert by_prefix["job_id"] == best["job_id"]  # a sweep id prefix works
    listed = json.loads(run_trn("list", "--sort", "val/loss", "--json").stdout)
    values = [r["metrics"]["val/loss"] for r in listed]
    assert len(values) == 4 and values == sorted(values)
    flipped = json.loads(run_trn("list", "--sort", "val/loss", "--reverse", "--json").stdout)
    assert [r["metrics"]["val/loss"] for r in flipped] == sorted(values, reverse=True)
    listed = json.loads(run_trn("list", "--sweep", loss_sweep[:15], "--json").stdout)
    assert {r["sweep_id"] for r in listed} == {loss_sweep} and len(listed) == 2


@pytest.mark.slow
def test_median_stops_a_trial_below_the_completed_ones(trn_home: Path) -> None:
    """``median`` reads which trials completed from the registry: once one has, a trial whose
    best value by the same epoch is below theirs stops there."""
    proc = run_trn(
        "run", "-m", "--json", *ASHA[:5], "sweep.early_stop=median", "sweep.min_trials=1",
        "optimizer.lr=0.01,0.000001",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    good, bad = sorted(sweep_records(trn_home), key=lambda r: r["sweep_num"])
    assert good["state"] == "completed" and bad["state"] == "pruned"
    assert bad["pruned"]["rule"] == "median" and bad["pruned"]["t"] == 1
    assert bad["pruned"]["cutoff"] == pytest.approx(
        next(
            json.loads(line)["value"]
            for line in (sweep_dir(trn_home) / "trials.jsonl").read_text().splitlines()
            if json.loads(line)["point"] == 0 and json.loads(line)["t"] == 1
        )
    )
