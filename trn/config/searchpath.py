"""trn's config search path as plain files: the project's config dir first, then trn's bundled
``conf/``; the first file found for a name wins. Read without Hydra (shell completion and
``trn config where`` use it; :mod:`trn.config.source` gives Hydra the same view).

The project's ``config.yaml`` does not replace trn's: it is laid over it (:func:`merge_primary`).
Its ``defaults:`` entries pick options (``- model: linreg`` replaces trn's ``model: mlp`` where it
stands; a group trn does not list is appended), and its other keys are one more config applied
after trn's groups, profiles included, so its values win; with ``_self_`` first in its defaults
they are applied before trn's groups instead, as Hydra orders a primary config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn.paths import conf_dir

PRIMARY = "config"
VALUES = "_project_"  # the name under which the project's config.yaml values are composed
SKIP = (".", "_", "hydra")  # not config groups of trn's: hidden dirs and Hydra's own hydra/


@dataclass(frozen=True)
class Entry:
    provider: str  # "project" or "trn"
    path: Path


def entries(project: Any = None) -> list[Entry]:
    """The search path, first match first."""
    if project is None:
        from trn.config.project import find

        project = find()
    out = [Entry("project", project.config_dir)] if project.config_dir else []
    return out + [Entry("trn", conf_dir())]


def groups(project: Any = None) -> set[str]:
    """Config groups: the sub-directories of any entry (not Hydra's own ``hydra/``)."""
    return {
        p.name
        for e in entries(project)
        for p in e.path.iterdir()
        if p.is_dir() and not p.name.startswith(SKIP)
    }


def options(group: str, project: Any = None) -> dict[str, list[Entry]]:
    """Each option of ``group`` -> the files that define it, the one that wins first."""
    found: dict[str, list[Entry]] = {}
    for e in entries(project):
        for path in sorted((e.path / group).glob("*.yaml")):
            found.setdefault(path.stem, []).append(Entry(e.provider, path))
    return dict(sorted(found.items()))


def option_file(group: str, option: str, project: Any = None) -> Path | None:
    winners = options(group, project).get(option)
    return winners[0].path if winners else None


def project_primary(project: Any = None) -> Path | None:
    """The project's ``config.yaml``, laid over trn's, if it has one."""
    first = entries(project)[0]
    path = first.path / f"{PRIMARY}.yaml"
    return path if first.provider == "project" and path.is_file() else None


def _key(entry: Any) -> str | None:
    """The group a defaults entry selects, without ``override``/``optional``."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    words = str(next(iter(entry))).split()
    return words[-1] if words else None


def _is_override(entry: Any) -> bool:
    return isinstance(entry, dict) and str(next(iter(entry), "")).startswith("override ")


def merge_primary(trn: dict[str, Any], user: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """trn's primary config with the project's ``config.yaml`` laid over it: the primary to
    compose (its defaults list names :data:`VALUES`) and the project's values for that entry."""
    user = dict(user)
    picks = list(user.pop("defaults", None) or [])
    hydra = user.pop("hydra", None)
    defaults = list(trn.get("defaults") or [])
    index = {_key(e): i for i, e in enumerate(defaults) if _key(e)}
    # Hydra wants `override` entries last: what the project adds goes before them
    end = next((i for i, e in enumerate(defaults) if _is_override(e)), len(defaults))
    for pick in picks:
        if pick == "_self_":
            continue
        at = index.get(_key(pick))
        if at is None:
            defaults.insert(end, pick)
            end += 1
        else:  # keep trn's spelling (e.g. `override hydra/launcher`), take the project's option
            defaults[at] = {next(iter(defaults[at])): next(iter(pick.values()))}
    if picks[:1] == ["_self_"]:  # the project's values come before trn's groups
        end = defaults.index("_self_") + 1 if "_self_" in defaults else 0
    defaults.insert(end, VALUES)
    primary = {**trn, "defaults": defaults}
    if hydra is not None:
        primary["hydra"] = hydra
    return primary, user


def load_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping (empty for an empty file); a :class:`UsageError` naming the file
    and the line when it is not YAML, or not a mapping."""
    import yaml

    from trn.errors import UsageError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(err, "problem", None) or "cannot parse it"
        raise UsageError(f"{path}{where}: not valid YAML ({reason}); fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config must be a mapping of keys, not a {type(data).__name__}")
    return data


def defaults_of(project: Any = None) -> dict[str, str]:
    """Each group's default option, after the project's ``config.yaml`` (for completion and
    ``trn config where``)."""
    trn = load_yaml(conf_dir() / f"{PRIMARY}.yaml")
    user_file = project_primary(project)
    primary = merge_primary(trn, load_yaml(user_file))[0] if user_file else trn
    out: dict[str, str] = {}
    for entry in primary.get("defaults") or []:
        key = _key(entry)
        if key and "/" not in key:
            out[key] = str(next(iter(entry.values())))
    return out


def package_of(path: Path) -> str | None:
    """The ``# @package`` a config file's header names, or None (the group's own)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = line.strip()
                if text and not text.startswith("#"):
                    return None  # the header is the comments before the first key
                if text.startswith("#") and text[1:].strip().startswith("@package"):
                    return text[1:].strip()[len("@package") :].strip() or None
    except (OSError, UnicodeDecodeError):
        return None
    return None


def declared_keys(project: Any) -> set[str]:
    """The top-level keys a project's config dir defines, which are the project's own (trn's
    schema does not judge them): its groups (an option is composed under its group's name), the
    keys of its ``config.yaml``, and those of every file of ``# @package _global_`` (an
    ``experiment=NAME`` file) or another package. Read without Hydra."""
    directory = getattr(project, "config_dir", None)
    if directory is None:
        return set()
    keys = {p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith(SKIP)}
    for path in sorted(directory.rglob("*.yaml")):
        relative = path.relative_to(directory).parts
        if relative[0].startswith(SKIP):
            continue
        package = package_of(path)
        if package is None and len(relative) > 1:
            continue  # an option of its group: under the group's name
        if package not in (None, "_global_"):
            keys.add(package.split(".")[0])
            continue
        try:
            data = load_yaml(path)
        except Exception:  # noqa: BLE001 - a broken file is reported when it is composed
            continue
        keys |= {str(k) for k in data if k not in ("defaults", "hydra")}
    return keys
