"""A real 2-process DDP run on CPU (gloo): both ranks train, rank 0 alone reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST, expected_start, read_events, run_trn

from trn.devices import usable_cpus
from trn.events.schema import validate_event


@pytest.mark.slow
def test_two_process_ddp_on_cpu(trn_home):
    proc = run_trn("run", *FAST, "devices.processes=2", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and record["devices"] == ["cpu", "cpu"]
    assert record["start"] == expected_start()  # rank 0 forked warm; rank 1 a fresh process

    # one job: one record, one manifest line, one job_started, one terminal event
    assert len(list((trn_home / "runs").glob("*/*/*/*/job.json"))) == 1
    assert len((trn_home / "jobs" / "index.jsonl").read_text().splitlines()) == 1
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    names = [e["event"] for e in events]
    assert names.count("job_started") == 1 and names.count("job_completed") == 1
    assert [e["seq"] for e in events] == list(range(len(events)))
    for event in events:
        validate_event(event)
        assert event["rank"] == 0
    started = events[names.index("job_started")]
    assert started["world_size"] == 2 and started["strategy"] == "DDPStrategy"
    metrics = [e for e in events if e["event"] == "metrics"]
    assert metrics and all(e["world_size"] == 2 for e in metrics)

    # both ranks joined the gloo group (Lightning logs each rank's start); the job completing
    # proves rank 1 trained too: every DDP step all-reduces gradients across both ranks
    log = (Path(record["job_dir"]) / "runner.log").read_text()
    assert "distributed_backend=gloo" in log
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log

    launch = json.loads((Path(record["job_dir"]) / "launch.json").read_text())
    assert launch["allocation"]["trainer"] == {
        "accelerator": "cpu",
        "devices": 2,
        "strategy": "ddp",
        "num_nodes": 1,
    }
    # the usable CPUs are split between the two processes
    assert launch["allocation"]["env"]["OMP_NUM_THREADS"] == str(max(1, usable_cpus() // 2))
