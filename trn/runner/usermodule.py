"""A model that is a LightningModule is trained as it is; these are the checks around that.

``is_lightning_module`` answers from the composed config alone, reading the model's source
(:mod:`trn.config.classes`): planning never imports the user's code, torch or Lightning to look
at a class unless its source cannot tell (then it says so first: that import takes seconds).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from trn.config import classes
from trn.errors import ConfigError, UsageError

# trn's own targets that are known plain nn.Modules or optimizers: no import needed to tell
_PLAIN_PREFIXES = ("torch.nn.", "trn.models.")
# the override keys that only a trn task uses; a LightningModule's configure_optimizers wins
_TASK_GROUPS = ("optimizer", "scheduler")


def _target_object(target: str) -> Any:
    module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            [
                f"model._target_={target}: cannot import module '{module_name}' ({err}); "
                "put the project's root on the path (PYTHONPATH) or fix the name"
            ]
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            [f"model._target_={target}: module '{module_name}' has no '{attr}'; fix the name"]
        ) from None


def is_lightning_module(config: dict[str, Any], root: Any = None) -> bool:
    """Whether ``model._target_`` names a LightningModule class: read from its source
    (:mod:`trn.config.classes`, no import); imported only when the source cannot tell.

    A factory function cannot be told without calling it: it counts as a plain ``nn.Module``
    here, and the runner decides again from the object it built (:func:`is_lightning`).
    """
    target = str((config.get("model") or {}).get("_target_", ""))
    if not target or target.startswith(_PLAIN_PREFIXES):
        return False
    read = classes.is_subclass(target, classes.LIGHTNING_MODULE, root)
    if read is not None:
        return read
    slow(f"importing {target} to tell what it is (its source does not say)")
    obj = _target_object(target)
    if not inspect.isclass(obj):
        return False
    import lightning.pytorch as pl

    return issubclass(obj, pl.LightningModule)


def slow(what: str) -> None:
    """Say on stderr, before it starts, that planning does something slow."""
    import sys

    print(f"trn: {what}; this takes a few seconds", file=sys.stderr, flush=True)


def is_lightning(model: Any) -> bool:
    import lightning.pytorch as pl

    return isinstance(model, pl.LightningModule)


def task_overrides(overrides: list[str]) -> list[str]:
    """The overrides that set trn's optimizer or scheduler group (``optimizer=sgd``,
    ``optimizer.lr=1``, ``+scheduler.x=1``, ``~optimizer``...)."""
    found = []
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key.split(".")[0] in _TASK_GROUPS:
            found.append(override)
    return found


def check_plan(config: dict[str, Any], overrides: list[str], root: Any = None) -> None:
    """The plan-time checks of a LightningModule model (before any job dir exists, so a
    problem is exit 2 with nothing on disk): it defines ``training_step``, and no override sets
    trn's optimizer or scheduler, which would be ignored (the module's own
    ``configure_optimizers`` decides). Read from the model's source; imported only when that
    cannot tell."""
    if not is_lightning_module(config, root):
        return
    target = config["model"]["_target_"]
    read = classes.find(target, root)
    owner = read.owners.get("training_step") if read is not None and read.complete else None
    if owner is None:
        check_training_step(_target_object(target))
    elif owner == classes.canonical(classes.LIGHTNING_MODULE):
        raise ConfigError(
            [f"model._target_={target}: this LightningModule has no training_step; define one"]
        )
    given = task_overrides(overrides)
    if given:
        raise UsageError(
            f"{given[0]}: {target} is a LightningModule, which trains with its own "
            "configure_optimizers, so trn's optimizer and scheduler groups do not apply; drop "
            "the override and set the optimizer in the module (or in its model config)"
        )


def check_training_step(module: Any) -> None:
    """A LightningModule (class or instance) must define ``training_step`` for trn to train it."""
    import lightning.pytorch as pl

    cls: Any = module if inspect.isclass(module) else type(module)
    if cls.training_step is pl.LightningModule.training_step:
        name = f"{cls.__module__}.{cls.__qualname__}"
        raise ConfigError(
            [f"model._target_={name}: this LightningModule has no training_step; define one"]
        )


def summary(config: dict[str, Any], root: Any = None) -> dict[str, Any]:
    """What ``--dry-run`` says about who trains the model (read from its source)."""
    if is_lightning_module(config, root):
        return {
            "module": "lightning",
            "task": None,
            "optimizer_from": "module",
            "note": "the model is a LightningModule: it trains with its own training_step, "
            "logging and configure_optimizers; the optimizer and scheduler groups do not apply",
        }
    name = str((config.get("task") or {}).get("name", "classification"))
    return {"module": "task", "task": name, "optimizer_from": "config", "note": None}
