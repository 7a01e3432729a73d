"""The plan crosses process boundaries as JSON and is never changed in place; the record's
backend decides who is asked to cancel a job."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import FAST

from trn.lifecycle.backends import backend_of
from trn.lifecycle.plan import Plan
from trn.lifecycle.planning import make_plan
from trn.registry.record import JobRecord


def test_a_plan_survives_json_and_stays_frozen(trn_home):
    plan = make_plan([*FAST, "seed=7"], home=trn_home)
    text = plan.to_json()
    assert json.loads(text)["config"]["seed"] == 7  # plain JSON: no pickle, no code
    again = Plan.from_json(text)
    assert again == plan and again.home == trn_home and again.command("D")[-1] == "D"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.sweep_id = "x"  # type: ignore[misc]
    moved = dataclasses.replace(plan, sweep_id="s1", runner="trn.lifecycle.backends.slurm.node")
    assert (
        moved.command("D")[-2:] == ["trn.lifecycle.backends.slurm.node", "D"]
        and plan.sweep_id is None
    )


def test_a_plan_from_an_older_trn_keeps_loading(trn_home):
    data = json.loads(make_plan(FAST, home=trn_home).to_json())
    data.pop("runner"), data.pop("backend")  # written before plans named them
    data["allocation"]["future_field"] = 1  # or by a newer one
    old = Plan.from_json(json.dumps(data))
    assert old.runner == "trn.runner" and old.backend == "local"


def test_the_backend_is_the_records_and_old_slurm_records_stay_slurm():
    local = JobRecord("a", "/x")
    assert local.to_dict()["backend"] == "local" and backend_of(local).name == "local"
    # no backend field: written before records named it
    old = JobRecord.from_dict({"job_id": "b", "job_dir": "/y", "extra": {"slurm_job_id": "42"}})
    assert old.backend == "slurm"
    assert backend_of(old).name == "slurm" and backend_of(old).handle(old) == "42"
    assert backend_of(local).handle(local) is None


def test_a_multi_node_job_without_a_launcher_that_starts_the_other_nodes_is_refused(cli, trn_home):
    # run here alone, rank 0 would wait forever at "MEMBER: 1/2" for ranks nobody starts
    code, out, err = cli("run", *FAST, "devices.num_nodes=2")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "devices.num_nodes=2: this machine cannot start the ranks of other machines" in err
    assert "hydra/launcher=slurm" in err  # the fix
    assert not trn_home.exists()  # refused before anything was written
    code, out, err = cli("run", "-m", *FAST, "devices.num_nodes=1,2")
    assert code == 2 and "sweep job 1 (" in err and "devices.num_nodes=2" in err, err
    assert not (trn_home / "runs").exists() and not (trn_home / "sweeps").exists()


def test_a_slurm_sweep_may_span_nodes(trn_home):
    from trn.lifecycle.expand import check

    checked = check([*FAST, "devices.num_nodes=2", "hydra/launcher=slurm"], trn_home)
    assert checked.plans[0].config["devices"]["num_nodes"] == 2
