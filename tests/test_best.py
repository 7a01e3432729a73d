"""`trn best`: the best completed job by objective, its best checkpoint along the resume chain."""

from __future__ import annotations

import json

import pytest
from prov_support import write_checkpoint, write_job

from trn.registry.store import Registry

SWEEP = "261201-101010-swee"
CONFIG = {"objective": {"metric": "val/acc", "mode": "max"}}


@pytest.fixture
def sweep(trn_home):
    registry = Registry()
    jobs = {}
    for i, acc in enumerate([0.6, 0.9, 0.7]):
        jobs[acc] = write_job(
            registry,
            CONFIG,
            now=1_700_000_000 + i,
            sweep_id=SWEEP,
            metrics={"val/acc": acc, "val/loss": 1 - acc},
        )
        write_checkpoint(jobs[acc], "e000-s0000010-end", {"val/acc": acc}, 10)
    write_job(
        registry,
        CONFIG,
        now=1_700_000_009,
        sweep_id=SWEEP,
        state="failed",
        metrics={"val/acc": 0.99},
    )  # not completed: never the best
    return jobs


def test_best_names_the_best_completed_job_and_its_checkpoint(cli, sweep):
    rc, out, err = cli("best", "--sweep", SWEEP, "--json")
    assert rc == 0, err
    best = json.loads(out)
    assert best["job_id"] == sweep[0.9]["job_id"] and best["value"] == 0.9
    assert best["checkpoint"]["ckpt"].endswith("e000-s0000010-end.ckpt")
    assert best["checkpoint"]["job_id"] == sweep[0.9]["job_id"]
    rc, out, _ = cli("best", "--sweep", SWEEP, "--metric", "val/loss", "--mode", "min")
    assert rc == 0 and sweep[0.9]["job_id"] in out.splitlines()[0]
    rc, out, _ = cli("best", "--sweep", SWEEP, "--mode", "min")  # the config's metric, other way
    assert rc == 0 and sweep[0.6]["job_id"] in out.splitlines()[0]


def test_the_best_checkpoint_of_a_resume_chain_may_live_in_the_parent(cli, trn_home):
    registry = Registry()
    parent = write_job(
        registry, CONFIG, now=1_700_000_000, state="preempted", metrics={"val/acc": 0.8}
    )
    best_ckpt = write_checkpoint(parent, "e001-s0000020-epoch", {"val/acc": 0.95}, 20)
    child = write_job(
        registry,
        CONFIG,
        now=1_700_000_050,
        parent_job_id=parent["job_id"],
        attempt=2,
        metrics={"val/acc": 0.9},
    )
    write_checkpoint(child, "e002-s0000030-end", {"val/acc": 0.9}, 30)
    grandchild = write_job(
        registry,
        CONFIG,
        now=1_700_000_090,
        parent_job_id=child["job_id"],
        state="failed",
        metrics={"val/acc": 0.1},
    )
    ckpt_97 = write_checkpoint(grandchild, "e003-s0000031-stop", {"val/acc": 0.97}, 31)
    rc, out, err = cli("best", "--json")
    assert rc == 0, err
    best = json.loads(out)
    assert best["job_id"] == child["job_id"]
    assert best["chain"] == [parent["job_id"], child["job_id"], grandchild["job_id"]]
    assert best["checkpoint"]["ckpt"] == str(ckpt_97)  # in a descendant of the best job
    with open(ckpt_97, "ab") as f:  # corrupt: skipped, the parent's 0.95 is next
        f.write(b"rot")
    best = json.loads(cli("best", "--json")[1])
    assert best["checkpoint"]["ckpt"] == str(best_ckpt) and best["checkpoint"]["value"] == 0.95


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (
            ("--metric", "val/nope", "--mode", "max"),
            2,
            "no completed job has the metric val/nope; metrics: val/acc, val/loss",
        ),
        (("--metric", "val/loss"), 2, "--metric val/loss: give --mode min or --mode max too"),
        (("--sweep", "261201-000000-none"), 1, "no completed job in sweep 261201-000000-none"),
        (("--sweep", "../x"), 2, ""),
    ],
)
def test_bad_input_is_one_line(cli, sweep, argv, code, message):
    rc, out, err = cli("best", *argv)
    assert rc == code and err.count("\n") == 1 and message in err, err
    assert out == ""


def test_no_jobs_at_all(cli, trn_home):
    rc, _, err = cli("best")
    assert rc == 1 and "no completed job" in err
