"""``trn run --config FILE``: a JSON or YAML config, merged key by key over the primary config.

The file is turned into Hydra overrides, so it is composed and validated exactly like the
command line (an unknown key is rejected and named in override syntax). Rules:

- a top-level key that names a config group (``conf/<group>/``) with a string value selects an
  option: ``{"optimizer": "sgd"}`` is ``optimizer=sgd``;
- any other mapping is walked down to its leaves: ``{"optimizer": {"lr": 0.01}}`` is
  ``optimizer.lr=0.01``; lists and scalars are set whole;
- a Hydra-style ``defaults: [{optimizer: sgd}]`` list selects options too.

Precedence: the defaults on the search path (the project's dir, then trn's ``conf/``) < this file < flags and overrides on the command line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from trn.errors import UsageError


def load_file(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping; a missing or malformed file is a :class:`UsageError`."""
    path = Path(path)
    flag = f"--config {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{flag}: no such file; give the path of a JSON or YAML config") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{flag}: cannot read it ({err})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else _yaml(text)
    except ValueError as err:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        reason = " ".join(str(err).split())[:200]
        raise UsageError(f"{flag} is not valid {kind} ({reason}); fix the file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{flag}: the file must hold a mapping of config keys, e.g. {{...}}")
    return data


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(str(err)) from None


def config_groups(directory: Path | None = None) -> set[str]:
    """The config groups on the search path of the project found from ``directory`` (a config
    dir) or the environment, and trn's ``conf/`` (not Hydra's own ``hydra/``)."""
    from trn.config import searchpath
    from trn.config.project import find

    return searchpath.groups(find(directory))


def file_overrides(path: str | Path, config_dir: Path | None = None) -> list[str]:
    """The Hydra overrides that merge the config file ``path``, group selections first."""
    data = load_file(path)
    groups = config_groups(config_dir)
    selections: list[str] = []
    values: list[str] = []
    for item in data.pop("defaults", None) or []:
        if isinstance(item, dict):
            selections += [f"{group}={option}" for group, option in item.items()]
        elif item != "_self_":
            raise UsageError(
                f"--config {path}: defaults entry {item!r} is not understood; "
                "write defaults: [{GROUP: OPTION}, ...]"
            )
    for key, value in data.items():
        if key in groups and isinstance(value, str):
            selections.append(f"{key}={value}")
        else:
            values += _leaves(str(key), value)
    return selections + values


def _leaves(key: str, value: Any) -> list[str]:
    if isinstance(value, dict) and value:
        return [o for k, v in value.items() for o in _leaves(f"{key}.{k}", v)]
    return [f"{key}={render(value)}"]


def render(value: Any) -> str:
    """A JSON/YAML value in Hydra's override grammar (strings always quoted, so ``"3"`` stays
    a string)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"
    return quote(str(value))


def quote(text: str) -> str:
    """``text`` as a single-quoted Hydra string: quotes escaped, and the backslashes before a
    quote or at the end doubled (Hydra unescapes only those)."""
    out = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    out = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, out)
    return f"'{out}'"
