"""`trn run -m --detach`: checks every job, returns the sweep id at once, the sweep runs on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST, run_trn, wait_until

from trn.events.schema import validate_file
from trn.registry.store import Registry


@pytest.mark.slow
def test_detached_sweep_returns_at_once_and_runs_to_the_end(trn_home: Path) -> None:
    proc = run_trn("run", "-m", "--detach", "--json", *FAST, "seed=1,2")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["jobs"] == 2 and Path(info["sweep_dir"]).is_dir()
    # returned at once: before the sweep ended (a command that waited would return after its
    # summary is written); no bound in seconds, which a busy machine would miss
    summary_file = Path(info["sweep_dir"]) / "summary.json"
    assert not summary_file.exists()
    wait_until(summary_file.exists, "the detached sweep's summary")
    summary = json.loads(summary_file.read_text())
    assert summary["state"] == "completed" and summary["counts"] == {"completed": 2}
    records = Registry(trn_home).list(sweep_id=info["sweep_id"], limit=None)
    assert sorted(r.overrides[-1] for r in records) == ["seed=1", "seed=2"]
    events = validate_file(Path(info["sweep_dir"]) / "events.jsonl")
    assert [e["event"] for e in events] == ["sweep_started", "sweep_completed"]


def test_detached_sweep_with_a_bad_job_starts_nothing(trn_home: Path) -> None:
    proc = run_trn("run", "-m", "--detach", *FAST, "optimizer.lr=abc,0.1")
    assert proc.returncode == 2 and "optimizer.lr" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (trn_home / "sweeps").exists() and not (trn_home / "runs").exists()
