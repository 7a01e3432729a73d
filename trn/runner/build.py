"""Build data module, model and optimizer from a resolved config, through the allowlist."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from trn.config.validate import check_targets
from trn.errors import ConfigError


def _locate(target: str) -> Any:
    from hydra.utils import get_object

    return get_object(target)


def instantiate(node: dict[str, Any], **extra: Any) -> Any:
    """``hydra.utils.instantiate`` with the allowlist checked first (configs stay at the edge)."""
    from hydra.utils import instantiate as hydra_instantiate

    problems = check_targets({"node": node, "allow_targets": extra.pop("_allow", [])})
    if problems:
        raise ConfigError(problems)
    return hydra_instantiate(node, **extra)


def _accepts(target: str, name: str) -> bool:
    try:
        params = inspect.signature(_locate(target)).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def task_name(config: dict[str, Any]) -> str:
    return str((config.get("task") or {}).get("name", "classification"))


def build_data(config: dict[str, Any]) -> Any:
    """The LightningDataModule, or None: then the model's own dataloaders feed it."""
    if not config.get("data"):
        return None
    return instantiate(dict(config["data"]), _allow=config.get("allow_targets") or [])


def build_model(config: dict[str, Any], datamodule: Any) -> Any:
    """The model; ``in_features`` and the head's width (``num_classes``) come from the data when
    it knows them (:func:`known`) and the model takes them: the classes, or the targets of a
    regression."""
    from trn.runner import tasks, usermodule
    from trn.runner.datainfo import known

    if not usermodule.is_lightning_module(config):  # a task trains it: the data must fit
        tasks.check_data_fits(task_name(config), datamodule)
    node = dict(config["model"])
    known_sizes = {
        "in_features": known(datamodule, "num_features"),
        "num_classes": tasks.output_size(task_name(config), datamodule),
    }
    for key, value in known_sizes.items():
        if key not in node and value and _accepts(node["_target_"], key):
            node[key] = value
    return instantiate(node, _allow=config.get("allow_targets") or [])


def optimizer_factory(config: dict[str, Any]) -> Any:
    """``params -> Optimizer`` for the configured optimizer."""
    node = dict(config["optimizer"])
    check = check_targets({"optimizer": node, "allow_targets": config.get("allow_targets") or []})
    if check:
        raise ConfigError(check)
    cls = _locate(node.pop("_target_"))
    return functools.partial(cls, **node)


def trainable(config: dict[str, Any], model: Any, datamodule: Any) -> tuple[Any, dict[str, Any]]:
    """What ``trainer.fit`` trains, and the ``job_started`` fields that say so.

    A LightningModule is trained as it is (its own steps, logging and optimizers); a plain
    ``nn.Module`` is wrapped in the configured task with trn's optimizer and scheduler.
    """
    from trn.data.datamodule import ShardDataModule
    from trn.runner import tasks, usermodule

    # only trn's datasets seek to the exact next sample; other data restarts the epoch
    about: dict[str, Any] = {"resume_exact": isinstance(datamodule, ShardDataModule)}
    if usermodule.is_lightning(model):
        usermodule.check_training_step(model)
        return model, {**about, "module": "lightning", "task": None, "optimizer_from": "module"}
    name = task_name(config)
    module = tasks.TASKS[name](model, optimizer_factory(config), config["scheduler"])
    return module, {**about, "module": "task", "task": name, "optimizer_from": "config"}
