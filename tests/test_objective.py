"""The objective nobody chose: trn's default, marked so at plan time, falling back at the first
validation to a metric the module logs, and ranked by that in sweeps (the summary, Optuna's
value) and by ``trn best``; one that a file or an override sets stays the user's."""

from __future__ import annotations

import pytest
import torch

from trn.config.objective import chosen, fallback, settle
from trn.config.validate import load
from trn.launcher.summary import summarize
from trn.launcher.task import objective_of
from trn.registry.record import JobRecord, view
from trn.runner.callbacks import batch_size, learning_rates


def test_trns_conf_leaves_it_to_the_default_and_an_override_chooses():
    assert load(["profile=dev"])["objective"] == {
        "metric": "val/acc",
        "mode": "max",
        "default": True,
    }
    given = load(["profile=dev", "objective.metric=val/loss", "objective.mode=min"])["objective"]
    assert given == {"metric": "val/loss", "mode": "min", "default": False}
    # trn's regression task picks its own: a config file chose it, so it is no default
    assert load(["task=regression", "data=diabetes"])["objective"]["default"] is False
    # even trn's own default metric, named on the command line, is a choice
    assert load(["objective.metric=val/acc"])["objective"]["default"] is False


def test_a_resume_or_rerun_override_of_the_objective_is_a_choice():
    config = settle({"objective": {"metric": None, "mode": None}})
    assert config["objective"]["default"] is True
    assert chosen(dict(config), ["trainer.max_epochs=3"])["objective"]["default"] is True
    assert chosen(config, ["objective.mode=min"])["objective"]["default"] is False


def test_the_fallback_is_the_first_it_logs_of_the_list():
    assert fallback(["train/loss", "val/acc", "val/loss"]) == ("val/loss", "min")
    assert fallback(["val_acc", "val/ppl"]) == ("val_acc", "max")
    assert fallback(["fit/rmse", "check/mse"]) is None


def record(job_id: str, value: float, objective: dict | None, config_path: str) -> JobRecord:
    return JobRecord(
        job_id,
        "/nowhere",
        state="completed",
        metrics={"val/loss": value, "val/acc": 1 - value},
        objective=objective,
        config_path=config_path,
    )


def test_a_sweep_of_jobs_that_fell_back_ranks_by_their_metric(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("objective: {metric: val/acc, mode: max, default: true}\n")
    fell = {"metric": "val/loss", "mode": "min", "source": "fallback"}
    records = [record("a", 0.3, fell, str(config)), record("b", 0.1, fell, str(config))]
    default = {"metric": "val/acc", "mode": "max", "default": True}
    jobs = [view(r) for r in records]
    summary = summarize("s", jobs, default, "completed", 1.0)
    assert summary["objective"] == {"metric": "val/loss", "mode": "min"}
    assert summary["best"] == {"job_id": "b", "value": 0.1}
    # a sweep whose objective someone chose ranks by it, whatever the jobs say
    chosen_one = {"metric": "val/acc", "mode": "max", "default": False}
    assert summarize("s", jobs, chosen_one, "completed", 1.0)["best"]["job_id"] == "b"
    assert summarize("s", jobs, chosen_one, "completed", 1.0)["objective"]["metric"] == "val/acc"
    # the sweeper maximises (the config's mode): less loss must be more
    assert objective_of(records[1]) == -0.1 > objective_of(records[0]) == -0.3
    same = record("c", 0.2, {"metric": "val/acc", "mode": "max", "source": "default"}, str(config))
    assert objective_of(same) == pytest.approx(0.8)


def test_step_events_read_every_optimizers_learning_rate_and_the_batch_size():
    a = torch.nn.Linear(2, 2)
    first = torch.optim.SGD([{"params": [a.weight], "lr": 0.1}, {"params": [a.bias], "lr": 0.2}])
    second = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=0.003)
    assert learning_rates([first, second]) == {"lr": 0.1, "lr/pg1": 0.2, "lr/opt1": 0.003}
    x = torch.zeros(7, 3)
    assert batch_size(x) == 7 and batch_size((x, torch.zeros(7))) == 7
    assert batch_size({"ids": [torch.tensor(1), x]}) == 7 and batch_size({"n": 3}) is None
