"""Nested configs as flat dotted keys, and values written as the override syntax writes them."""

from __future__ import annotations

import re
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z0-9_./:+-]+$")  # needs no quotes, in Hydra or in a shell
_NUMERIC = re.compile(  # quoted, or it would parse as a number
    r"^[+-]?((\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|nan)$", re.IGNORECASE
)
_RESERVED = {"null", "true", "false", "none", "~", ""}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 1e-3}}`` -> ``{"optimizer.lr": 1e-3}``; lists and empty dicts are
    values of their own key."""
    if not isinstance(node, dict) or (not node and prefix):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def fmt(value: Any) -> str:
    """A value as it would be written after ``key=`` on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{fmt(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not _NUMERIC.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
