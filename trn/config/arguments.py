"""Arguments checked before a job exists: each ``_target_``'s keys against its constructor, and
``trainer.*`` against the installed Lightning's ``Trainer``, both read from source
(:mod:`trn.config.classes`, no import).

A key the constructor does not take (and no ``**kwargs`` would), a required argument the config
does not give, and a value whose annotation is a number, a bool, a string (or ``None``, or a
``Literal``) but which is not one, are each one problem, named in override syntax. What the
source cannot tell (an annotation such as ``Tensor``, an ``__init__`` inherited from a class not
read) is let through: the job's own construction still checks it.
"""

from __future__ import annotations

import ast
from typing import Any

from trn.config import classes
from trn.text import did_you_mean

TRAINER = "lightning.pytorch.Trainer"
# what trn passes to a target itself, by its config key: never required of the config
SUPPLIED = {"model": ("in_features", "num_classes"), "optimizer": ("params",)}
# Trainer arguments trn sets, and what to set instead
TRN_OWNED = {
    "accelerator": "set devices=cpu|gpu|auto (trn picks the accelerator from the devices group)",
    "devices": "set devices.count=N, devices.ids=[...] or devices.processes=N",
    "strategy": "trn picks it from the devices group (DDP for several devices); set devices.*",
    "num_nodes": "set devices.num_nodes=N",
    "logger": "use the logger group: logger=csv, logger=[csv,tensorboard], logger=mlflow",
    "callbacks": "use the callbacks group, e.g. callbacks=[early_stopping,lr_monitor]",
    "enable_checkpointing": "trn writes the checkpoints; set checkpoint.every_n_epochs, "
    "checkpoint.keep_last, checkpoint.save_best",
    "default_root_dir": "it is the job dir (${trn:job_dir} in a config); remove it",
    "plugins": "trn sets its own checkpoint I/O plugin; remove it",
    "enable_progress_bar": "trn shows progress itself (trn run, trn logs -f); remove it",
    "enable_model_summary": "add lightning.pytorch.callbacks.ModelSummary to the callbacks "
    "for a summary in runner.log",
}
_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def check_arguments(
    config: dict[str, Any], trusted: tuple[str, ...], root: Any = None
) -> list[str]:
    """Every problem of ``trainer`` and of each ``_target_`` node under a ``trusted`` prefix
    (the allowlist refuses the others first)."""
    problems = check_trainer(config.get("trainer"))

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            target = node.get("_target_")
            if isinstance(target, str) and target.startswith(trusted):
                problems.extend(check_node(node, path, root))
            for k, v in node.items():
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])

    walk({k: v for k, v in config.items() if k != "trainer"}, [])
    return problems


def key_of(path: list[Any]) -> str:
    """A config path in override syntax: ``["callbacks", "es", "patience"]`` ->
    ``callbacks.es.patience``, ``["hidden", 0]`` -> ``hidden[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def check_node(node: dict[str, Any], path: list[Any], root: Any) -> list[str]:
    """The problems of one ``_target_`` node at ``path``."""
    target = node["_target_"]
    where = key_of(path)
    missing = classes.missing_attribute(target, root)
    if missing is not None:
        module, names = missing
        attr = target.rsplit(".", 1)[1]
        return [
            f"{where}._target_={target}: module {module} has no {attr!r}{did_you_mean(attr, names)}"
        ]
    info = classes.find(target, root)
    if info is None or info.signature is None:
        return []
    sig = info.signature
    params = {p.name: p for p in sig.params}
    supplied = SUPPLIED.get(str(path[0]) if len(path) == 1 else "", ())
    problems = []
    for key, value in node.items():
        if key.startswith("_") and key.endswith("_"):
            continue  # Hydra's own: _target_, _partial_, _args_, _recursive_, _convert_
        param = params.get(key)
        if param is None:
            if not sig.takes_any:
                takes = ", ".join(n for n in sig.names() if n not in supplied) or "nothing"
                problems.append(
                    f"{where}.{key}: {target} takes no argument {key!r}"
                    f"{did_you_mean(key, sig.names())}; remove it (it takes: {takes})"
                )
            continue
        wrong = _wrong_type(value, param.annotation)
        if wrong:
            problems.append(
                f"{where}.{key}={_show(value)}: {target} takes {key} as {wrong}; give {wrong}"
            )
    if not node.get("_partial_") and "_args_" not in node:
        for param in sig.params:
            if param.required and param.name not in node and param.name not in supplied:
                problems.append(
                    f"{where}.{param.name} is required by {target} (it has no default); "
                    f"set {where}.{param.name}=VALUE"
                )
    return problems


def check_trainer(trainer: Any) -> list[str]:
    """``trainer.*``: every key an argument of the installed ``lightning.Trainer`` that trn
    does not set itself, of the type its annotation says."""
    if not isinstance(trainer, dict) or not trainer:
        return []
    info = classes.find(TRAINER)
    problems = []
    for key, value in trainer.items():
        if key == "_target_":
            problems.append(
                "trainer._target_: trn builds the Lightning Trainer itself, with the other "
                "trainer.* keys as its arguments; remove _target_"
            )
        elif key in TRN_OWNED:
            problems.append(f"trainer.{key}: trn sets this Trainer argument; {TRN_OWNED[key]}")
        elif info is not None and info.signature is not None:
            params = {p.name: p for p in info.signature.params}
            if key not in params:
                names = [n for n in params if n not in TRN_OWNED]
                problems.append(
                    f"trainer.{key}: lightning.Trainer has no argument {key!r}"
                    f"{did_you_mean(key, names, 'trainer.')}; remove it"
                )
            else:
                wrong = _wrong_type(value, params[key].annotation)
                if wrong:
                    problems.append(
                        f"trainer.{key}={_show(value)}: lightning.Trainer takes {key} as "
                        f"{wrong}; give {wrong}"
                    )
    return problems


def trainer_arguments() -> list[str]:
    """The installed ``lightning.Trainer``'s argument names (none when its source is not
    readable)."""
    info = classes.find(TRAINER)
    return info.signature.names() if info is not None and info.signature is not None else []


def open_trainer(overrides: list[str]) -> list[str]:
    """``trainer.KEY=VALUE`` written as Hydra's ``++trainer.KEY=VALUE`` (set, or add) when KEY
    is an argument of the Trainer: any of them may be set as trn's own keys are, listed in the
    config or not."""
    names: list[str] | None = None
    out = []
    for override in overrides:
        key, eq, _ = override.partition("=")
        parts = key.split(".")
        if eq and len(parts) == 2 and parts[0] == "trainer" and key[:1] not in "+~":
            names = trainer_arguments() if names is None else names
            if parts[1] in names:
                override = "++" + override
        out.append(override)
    return out


def as_written(overrides: list[str]) -> list[str]:
    """:func:`open_trainer` undone, for what a record and a message show: ``trainer.KEY=V`` as
    the user wrote it (composing it again opens it again)."""
    names: list[str] | None = None
    out = []
    for override in overrides:
        key = override.partition("=")[0]
        if key.startswith("++trainer.") and key.count(".") == 1:
            names = trainer_arguments() if names is None else names
            if key[len("++trainer.") :] in names:
                override = override[2:]
        out.append(override)
    return out


def _show(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, dict) else "{...}"


# -- does a value fit its annotation --------------------------------------------------------------
def _wrong_type(value: Any, annotation: ast.expr | None) -> str | None:
    """What ``annotation`` wants, in words, when ``value`` surely does not fit it; else None."""
    if isinstance(value, dict) and "_target_" in value:
        return None  # an object built by Hydra: not checked here
    fits = _fits(value, annotation)
    return _describe(annotation) if fits is False else None


def _fits(value: Any, ann: ast.expr | None) -> bool | None:
    """True, False, or None when the annotation says nothing trn can check."""
    if ann is None:
        return None
    if isinstance(ann, ast.Constant) and ann.value is None:
        return value is None
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        return _any([_fits(value, ann.left), _fits(value, ann.right)])
    name = _name(ann.value if isinstance(ann, ast.Subscript) else ann)
    if isinstance(ann, ast.Subscript):
        items = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        if name == "Optional":
            return True if value is None else _fits(value, items[0])
        if name == "Union":
            return _any([_fits(value, item) for item in items])
        if name == "Literal":
            allowed = [i.value for i in items if isinstance(i, ast.Constant)]
            return value in allowed if len(allowed) == len(items) else None
        return None
    if name == "None":
        return value is None
    if name == "bool":
        return isinstance(value, bool)
    if name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "str":
        return isinstance(value, str)
    return None


def _any(results: list[bool | None]) -> bool | None:
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


def _name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):  # typing.Optional, t.Union
        return expr.attr
    return None


def _describe(ann: ast.expr | None) -> str:
    if ann is None:
        return "something else"
    if isinstance(ann, ast.Constant) and ann.value is None:
        return "null"
    if isinstance(ann, ast.BinOp):
        return f"{_describe(ann.left)} or {_describe(ann.right)}"
    name = _name(ann.value if isinstance(ann, ast.Subscript) else ann)
    if isinstance(ann, ast.Subscript):
        items = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        if name == "Literal":
            return "one of " + ", ".join(
                repr(i.value) for i in items if isinstance(i, ast.Constant)
            )
        words = [_describe(i) for i in items]
        return " or ".join(words + (["null"] if name == "Optional" else []))
    return _WORDS.get(name or "", "null" if name == "None" else ast.unparse(ann))
