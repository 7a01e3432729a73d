"""Who trains the model: a user's LightningModule as it is, a plain nn.Module through a task.

Plan-time checks (no training here): telling a LightningModule from the composed config, refusing
the optimizer/scheduler overrides it would ignore, a module without training_step; the metric
readers; the data a task accepts.
"""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
import userproject

from trn.config.validate import load
from trn.errors import ConfigError, UsageError
from trn.runner import usermodule
from trn.runner.checkpoint import restart_interrupted_epoch
from trn.runner.metrics import scalar_metrics
from trn.runner.tasks import check_data_fits


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = userproject.write(tmp_path / "proj")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    for name in [m for m in sys.modules if m.split(".")[0] == userproject.PACKAGE]:
        del sys.modules[name]


def config_of(model: str) -> dict:
    return load(userproject.overrides(model))


def test_a_lightning_module_is_told_from_the_config(project):
    assert usermodule.is_lightning_module(config_of("Regressor"))
    assert usermodule.is_lightning_module(config_of("NoStep"))
    assert not usermodule.is_lightning_module(config_of("factory"))  # a function: an nn.Module
    assert not usermodule.is_lightning_module(load([]))  # trn's MLP
    assert usermodule.summary(config_of("Regressor"))["optimizer_from"] == "module"
    assert usermodule.summary(load(["task=regression"]))["task"] == "regression"


@pytest.mark.parametrize(
    "override",
    ["optimizer=sgd", "optimizer.lr=0.1", "+optimizer.foo=1", "scheduler=cosine", "~scheduler"],
)
def test_optimizer_overrides_of_a_lightning_module_are_refused(project, override):
    config = config_of("Regressor")
    with pytest.raises(UsageError) as err:
        usermodule.check_plan(config, [*userproject.overrides(), override])
    message = str(err.value)
    assert message.startswith(f"{override}: userpkg.models.Regressor is a LightningModule")
    assert "configure_optimizers" in message and "\n" not in message


def test_the_same_overrides_are_fine_for_a_plain_module_and_none_is_fine_for_any(project):
    usermodule.check_plan(load(["optimizer=sgd"]), ["optimizer=sgd", "optimizer.lr=0.1"])
    usermodule.check_plan(config_of("Regressor"), userproject.overrides())
    usermodule.check_plan(config_of("factory"), ["optimizer.lr=0.1"])


def test_a_lightning_module_without_training_step_is_one_line(project):
    with pytest.raises(ConfigError) as err:
        usermodule.check_plan(config_of("NoStep"), [])
    assert str(err.value) == (
        "model._target_=userpkg.models.NoStep: this LightningModule has no training_step; "
        "define one"
    )


def test_a_model_module_that_cannot_be_imported_is_named(project):
    config = config_of("Regressor")
    config["model"]["_target_"] = "userpkg.nothere.Model"
    with pytest.raises(ConfigError, match="cannot import module 'userpkg.nothere'"):
        usermodule.is_lightning_module(config)
    config["model"]["_target_"] = "userpkg.models.Missing"
    with pytest.raises(ConfigError, match="module 'userpkg.models' has no 'Missing'"):
        usermodule.is_lightning_module(config)


def test_task_overrides_are_the_optimizer_and_scheduler_keys():
    given = ["optimizer=sgd", "model.hidden=3", "+scheduler.x=1", "~optimizer", "optimizers=1"]
    assert usermodule.task_overrides(given) == ["optimizer=sgd", "+scheduler.x=1", "~optimizer"]


def test_epoch_metrics_fold_lightnings_step_and_epoch_twins_into_one_name():
    logged = {
        "train/loss": torch.tensor(0.5),  # the epoch value, under the logged name
        "train/loss_step": torch.tensor(0.9),
        "train/loss_epoch": torch.tensor(0.5),
        "fit/rmse_step": torch.tensor(2.0),  # its own name, not a twin: kept
        "val/acc": 1,
        "vector": torch.ones(3),
        "flag": True,
    }
    assert scalar_metrics(logged) == {"train/loss": 0.5, "fit/rmse_step": 2.0, "val/acc": 1.0}


def _progress(current: int, last: bool) -> dict:
    # as saved in on_train_batch_end: the batch is not yet counted as completed
    counts = {"ready": current, "started": current, "processed": current}
    counts["completed"] = current - 1
    batch = {"total": dict(counts), "current": dict(counts), "is_last_batch": last}
    return {"loops": {"fit_loop": {"epoch_loop.batch_progress": batch}}}


def test_a_mid_epoch_checkpoint_of_other_data_restarts_its_epoch():
    mid = _progress(5, last=False)
    restart_interrupted_epoch(mid)
    batch = mid["loops"]["fit_loop"]["epoch_loop.batch_progress"]
    # Lightning adds the unfinished batch's 1 to completed on restart: then all are 0
    assert batch["current"] == {"ready": 0, "started": 0, "processed": 0, "completed": -1}
    assert batch["total"]["ready"] == 5  # the job's totals are kept
    end = _progress(8, last=True)  # an epoch's end: the next epoch starts afresh anyway
    restart_interrupted_epoch(end)
    assert end["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["ready"] == 8


def test_classification_refuses_float_targets_with_the_fix():
    class FloatTargets:
        path, num_targets, num_classes = "diabetes", 1, 0

    with pytest.raises(ConfigError, match="add task=regression"):
        check_data_fits("classification", FloatTargets())
    check_data_fits("regression", FloatTargets())
    check_data_fits("classification", None)  # the module's own dataloaders: nothing to check
