"""Nested configs as flat dotted keys, and values written as the override syntax writes them."""

from __future__ import annotations

import re
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z0-9_./:+-][A-Za-z0-9_./:+ -]*$")
_NUMERIC = re.compile(
    r"^[+-]?(\d|\.\d|inf|nan)", re.IGNORECASE
)  # quoted: it would parse as a number
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
    plain = _PLAIN.match(text) and text == text.strip() and text.lower() not in _RESERVED
    if plain and not _NUMERIC.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
