"""What a checkpoint's pickle may name beyond torch's own rules, and loading it with those.

``torch.load(weights_only=True)`` rebuilds tensors and plain containers only. A LightningModule
that calls ``save_hyperparameters()`` stores more: the ``nn.Module`` it was given, the
``functools.partial`` of its optimizer, an omegaconf config. Trusted besides torch's own:

- classes of torch, Lightning and omegaconf, and of the project's trusted prefixes
  (``allow_targets``, read from the project's files and the command, never from a checkpoint);
- ``functools.partial`` (and Hydra's subclass of it, :data:`PARTIALS`) and the standard
  library's plain types (:data:`PLAIN`).

They are built the way torch's loader builds them: a class by ``__new__`` and ``__setstate__``,
never called; only :data:`CALLABLE` may be called. Nothing else of the standard library
(``os.system``, ``subprocess.Popen``, ``builtins.eval``...) is ever trusted, whatever
``allow_targets`` says. :func:`judge` decides from a name alone (no import: the plan-time scan,
:mod:`trn.checkpoints.scan`, uses it); :func:`objects` imports what was judged and checks that
each is a class, for ``torch.serialization.safe_globals`` (torch's safe-globals list, never a
blanket ``weights_only=False``).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PACKAGES = ("torch.", "lightning.", "pytorch_lightning.", "lightning_fabric.", "omegaconf.")
PLAIN = frozenset(
    f"{module}.{name}"
    for module, names in {
        "builtins": "dict list tuple set frozenset int float complex bool str bytes bytearray "
        "slice range",
        "collections": "OrderedDict defaultdict deque Counter",
        "datetime": "date datetime time timedelta timezone",
        "decimal": "Decimal",
        "fractions": "Fraction",
        "pathlib": "Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath",
        "uuid": "UUID",
        "typing": "Any",
    }.items()
    for name in names.split()
)
# functools.partial, and the subclass Hydra's `_partial_: true` builds (hydra-core 1.3.8 and
# later: it checks its target again when called, as Hydra's instantiate does)
PARTIALS = frozenset({"functools.partial", "hydra._internal.target_policy._DeferredTarget"})
CALLABLE = PLAIN | PARTIALS  # what a pickle may call (REDUCE): plain constructions
NEVER = (
    "its pickle asks for {name}, which nothing trusts (only classes of torch, Lightning, "
    "omegaconf and allow_targets, functools.partial and plain types are)"
)


@dataclass(frozen=True)
class Verdict:
    """``ok``; else the prefix to trust (``allow_targets``), or None: never trusted."""

    ok: bool
    prefix: str | None = None


def judge(name: str, trusted: Sequence[str]) -> Verdict:
    """May a checkpoint name ``name`` (``module.attr``, a global torch's rules do not allow)?"""
    if name in PLAIN or name in PARTIALS:
        return Verdict(True)
    top = name.split(".", 1)[0]
    if top in sys.stdlib_module_names or top == "__builtin__" or "." not in name:
        return Verdict(False)
    if name.startswith(PACKAGES) or name.startswith(tuple(trusted)):
        return Verdict(True)
    return Verdict(False, f"{top}.")


def objects(names: Iterable[str]) -> list[Any]:
    """The objects ``names`` (each judged ok) stand for, imported; a name that is not a class
    (or not there) raises ``ValueError`` saying so."""
    out = []
    for name in sorted(set(names)):
        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"its pickle names {name}, which cannot be imported ({err})") from None
        if not inspect.isclass(obj) and name not in PLAIN:
            kind = type(obj).__name__
            raise ValueError(f"its pickle names {name}, a {kind}, not a class; it is never loaded")
        out.append(obj)
    return out
