"""The ``callbacks`` group: Lightning callbacks a project adds beside trn's own (events,
checkpoints, signals).

``callbacks`` is a mapping of names to ``_target_`` nodes, as lightning-hydra-template composes
it: each option file of the group puts its callback under its own name, so
``callbacks=[early_stopping,lr_monitor]`` composes both, and a project's ``callbacks/default.yaml``
may list several (a ``defaults:`` list of options, or its own ``NAME: {_target_: ...}``
entries). A name set to null is off (``callbacks.early_stopping=null``).

trn writes the checkpoints and shows the progress itself, so two kinds are refused when the job
is planned, each naming what to use instead: a ``ModelCheckpoint`` (trn's ``checkpoint.*`` keys
and ``objective`` say what it would) and a progress bar.
"""

from __future__ import annotations

from typing import Any

from trn.config import classes

# a Lightning class -> why trn refuses a callback that is one, and what to set instead
REFUSED = {
    "lightning.pytorch.callbacks.ModelCheckpoint": (
        "trn writes the job's checkpoints itself (atomic, verified, resumable); remove it and "
        "set checkpoint.every_n_epochs, checkpoint.every_n_steps, checkpoint.keep_last and "
        "checkpoint.save_best (the best by objective.metric and objective.mode)"
    ),
    "lightning.pytorch.callbacks.ProgressBar": (
        "trn shows the progress itself (trn run, trn logs -f); remove it"
    ),
}


def entries(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, node)`` of each callback that is on, in the config's order."""
    group = config.get("callbacks") or {}
    if not isinstance(group, dict):  # the schema says what is wrong with it
        return []
    return [(name, node) for name, node in group.items() if node is not None]


def check_callbacks(
    config: dict[str, Any], trusted: tuple[str, ...], root: Any = None
) -> list[str]:
    """A problem per callback that would fight trn's own (``trusted`` ones only: the allowlist
    refuses the rest first)."""
    problems = []
    for name, node in entries(config):
        target = node.get("_target_") if isinstance(node, dict) else None
        if not isinstance(target, str) or not target.startswith(trusted):
            continue
        for base, why in REFUSED.items():
            if classes.is_subclass(target, base, root):
                kind = base.rsplit(".", 1)[1]
                problems.append(f"callbacks.{name}={target}: a {kind} is not for trn; {why}")
    return problems
