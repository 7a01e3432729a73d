"""Shell completion candidates: commands, flags, config groups/options/keys, job ids.

Read from the argparse parser (so every command's flags complete as soon as it exists), from
``conf/`` (plain YAML, no Hydra) and from the job index. Nothing here imports torch or hydra.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

FILES = "__files__"  # tells the shell script to complete file names instead


def words_of(line: str) -> list[str]:
    """The words of a command line up to the cursor; the last one is the word being completed."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote
        words = line.split()
    if not line or line[-1].isspace():
        words.append("")
    return words


def candidates(line: str) -> list[str]:
    from trn.cli.main import COMMANDS, build_parser

    words = words_of(line)
    cur = words[-1]
    if len(words) <= 2:
        return _match(list(COMMANDS) + ["--help", "--version"], cur)
    sub = _subparsers(build_parser()).get(words[1])
    if sub is None:
        return []
    options = {s: a for a in sub._actions for s in a.option_strings}
    prev = options.get(words[-2])
    if prev is not None and prev.nargs != 0:
        return _values(prev, cur)
    if cur.startswith("-"):
        return _match(sorted(options), cur)
    positionals = [a for a in sub._actions if not a.option_strings]
    if any(a.metavar == "JOB|SWEEP" for a in positionals):
        return job_ids(cur) + sweep_ids(cur)
    if any(a.metavar == "JOB" for a in positionals):
        return job_ids(cur)
    if any(a.metavar == "OVERRIDE" for a in positionals):
        return overrides(cur)
    choices = [str(c) for a in positionals[:1] if a.choices for c in a.choices]
    return _match([c for c in choices if not c.startswith("_")], cur)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _match(options: list[str], cur: str) -> list[str]:
    return [o for o in options if o.startswith(cur)]


def _values(action: argparse.Action, cur: str) -> list[str]:
    """Values for an option: its choices, a group's options, job ids, or file names."""
    if action.choices:
        return _match([str(c) for c in action.choices], cur)
    if action.metavar == "JOB":
        return job_ids(cur)
    if action.dest in config_tree()[1]:
        return _match(group_options(action.dest), cur)
    if action.metavar in ("FILE", "PATH", "DIR", "META") or action.metavar is None:
        return [FILES]
    return []


def job_ids(prefix: str, limit: int = 50) -> list[str]:
    """Job ids from the index, newest first; never creates ``$TRN_HOME``."""
    from trn.paths import trn_home

    db = trn_home() / "index.db"
    if not db.exists():
        return []
    from trn.registry.index import Index

    rows = Index(db).by_prefix(prefix, limit)
    return sorted((r["job_id"] for r in rows), reverse=True)


def sweep_ids(prefix: str, limit: int = 20) -> list[str]:
    """Sweep ids (``$TRN_HOME/sweeps/YYYY/MM/DD/<id>``), newest first."""
    from trn.paths import trn_home

    days = sorted((trn_home() / "sweeps").glob("*/*/*"), reverse=True)
    found: list[str] = []
    for day in days:
        found += sorted((d.name for d in day.iterdir() if d.name.startswith(prefix)), reverse=True)
        if len(found) >= limit:
            break
    return found[:limit]


def group_options(group: str) -> list[str]:
    from trn.paths import conf_dir

    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def config_tree() -> tuple[dict[str, Any], set[str]]:
    """The keys of the default config (primary + each group's default option), and the groups."""
    import yaml

    from trn.config.file import config_groups
    from trn.paths import conf_dir

    root = conf_dir()
    primary = yaml.safe_load((root / "config.yaml").read_text()) or {}
    groups = config_groups(root)
    tree = {k: v for k, v in primary.items() if k != "defaults"}
    for item in primary.get("defaults", []):
        if not isinstance(item, dict):
            continue
        for group, option in item.items():
            if group not in groups:  # e.g. `override hydra/launcher: trn`
                continue
            path = Path(root / str(group) / f"{option}.yaml")
            text = path.read_text() if path.is_file() else ""
            if "@package _global_" not in text:
                tree[str(group)] = yaml.safe_load(text) or {}
    return tree, groups


def overrides(cur: str) -> list[str]:
    """``group=`` -> its options; ``a.b`` -> the keys under ``a``; else groups and keys."""
    tree, groups = config_tree()
    sign = cur[: len(cur) - len(cur.lstrip("+~"))]
    body = cur[len(sign) :]
    if "=" in body:
        key = body.split("=", 1)[0]
        return (
            _match([f"{sign}{key}={o}" for o in group_options(key)], cur) if key in groups else []
        )
    parent, _, _ = body.rpartition(".")
    node: Any = tree
    for part in parent.split(".") if parent else []:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return []
    head = f"{sign}{parent}." if parent else sign
    out = [head + k + ("." if isinstance(v, dict) and v else "=") for k, v in node.items()]
    if not parent:
        out += [f"{sign}{g}=" for g in sorted(groups)]
    return _match(sorted(set(out)), cur)
