"""The objective: what best checkpoints, sweeps and ``trn best`` rank jobs by.

trn's own ``conf/config.yaml`` leaves ``objective.metric`` null: nobody chose it. Such a config
gets trn's default (``val/acc``, max) marked ``objective.default: true``, and a module that never
logs it is ranked by the first metric of :data:`FALLBACK` it does log (the runner decides, at
the first validation: :mod:`trn.runner.metrics`). An objective that a config file or an override
sets is the user's: never logged, it fails the job, as it always did.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

DEFAULT = {"metric": "val/acc", "mode": "max"}
# what a module that never logs the default is ranked by: the first of these it logs
FALLBACK = (
    ("val/loss", "min"),
    ("val/acc", "max"),
    ("val_loss", "min"),
    ("val_acc", "max"),
    ("val/mse", "min"),
    ("val/mae", "min"),
    ("val/r2", "max"),
    ("val/ppl", "min"),
)


def settle(config: Any) -> Any:
    """``config`` (composed, before its interpolations resolve, so that ``${objective.metric}``
    in a callback's ``monitor`` reads the metric in force) with its objective filled in: an
    unset metric is trn's default, marked so."""
    from omegaconf import DictConfig, open_dict

    objective = config.get("objective")
    if not isinstance(objective, dict | DictConfig):
        return config
    unset = objective.get("metric") is None
    with open_dict(objective) if isinstance(objective, DictConfig) else nullcontext():
        if unset:
            objective["metric"] = DEFAULT["metric"]
        objective["mode"] = objective.get("mode") or DEFAULT["mode"]  # a metric alone: max
        objective["default"] = unset or bool(objective.get("default"))
    return config


def chosen(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``config`` (a job's resolved config, resumed or rerun) with ``objective.default`` false
    when an override sets the objective: the user chose it now."""
    keys = [o.lstrip("+~").partition("=")[0] for o in overrides]
    objective = config.get("objective")
    if isinstance(objective, dict) and any(k.split(".")[0] == "objective" for k in keys):
        objective["default"] = False
    return config


def fallback(logged: list[str] | set[str]) -> tuple[str, str] | None:
    """The objective of a module that never logs the default: the first of :data:`FALLBACK`
    that it logs, or None (then "best" is the last checkpoint)."""
    return next(((m, mode) for m, mode in FALLBACK if m in logged), None)


def ranking(config: dict[str, Any]) -> dict[str, Any] | None:
    """The objective a job starts with, as ``job_started`` and the record carry it:
    ``source`` is ``default`` (trn's, nobody chose it) or ``config``; None without one."""
    objective = config.get("objective")
    if not isinstance(objective, dict):
        return None
    source = "default" if objective.get("default") else "config"
    return {"metric": objective.get("metric"), "mode": objective.get("mode"), "source": source}
