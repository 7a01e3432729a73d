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


def build_data(config: dict[str, Any]) -> Any:
    return instantiate(dict(config["data"]), _allow=config.get("allow_targets") or [])


def build_model(config: dict[str, Any], datamodule: Any) -> Any:
    """The ``nn.Module``; ``in_features``/``num_classes`` come from the data when it knows them."""
    node = dict(config["model"])
    for key, attr in (("in_features", "num_features"), ("num_classes", "num_classes")):
        if key not in node and hasattr(datamodule, attr) and _accepts(node["_target_"], key):
            node[key] = getattr(datamodule, attr)
    return instantiate(node, _allow=config.get("allow_targets") or [])


def optimizer_factory(config: dict[str, Any]) -> Any:
    """``params -> Optimizer`` for the configured optimizer."""
    node = dict(config["optimizer"])
    check = check_targets({"optimizer": node, "allow_targets": config.get("allow_targets") or []})
    if check:
        raise ConfigError(check)
    cls = _locate(node.pop("_target_"))
    return functools.partial(cls, **node)
