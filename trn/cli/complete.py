"""Shell completion candidates: commands, flags, config groups/options/keys, job ids.

Read from the argparse parser (so every command's flags complete as soon as it exists), from
the config search path (the project's dir, then trn's ``conf/``; plain YAML, no Hydra) and from
the job index. Nothing here imports torch or hydra.
"""

from __future__ import annotations

import argparse
import shlex
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
    """What may complete the last word of ``line`` (a ``-cd DIR`` on it picks the project)."""
    from trn.config.project import using
    from trn.errors import UsageError

    words = words_of(line)
    given = [w for flag, w in zip(words, words[1:-1]) if flag in ("-cd", "--config-dir")]
    try:
        with using(given[-1] if given else None):
            return _candidates(words)
    except UsageError:  # a config dir or pyproject that is not right: nothing to offer
        return []


def _candidates(words: list[str]) -> list[str]:
    from trn.cli.main import COMMANDS, build_parser

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
    from trn.jobdir import HomeDir
    from trn.paths import trn_home

    db = HomeDir(trn_home()).index
    if not db.exists():
        return []
    from trn.registry.index import Index

    rows = Index(db).by_prefix(prefix, limit)
    return sorted((r.job_id for r in rows), reverse=True)


def sweep_ids(prefix: str, limit: int = 20) -> list[str]:
    """Sweep ids (``$TRN_HOME/sweeps/YYYY/MM/DD/<id>``), newest first."""
    from trn.jobdir import HomeDir
    from trn.paths import trn_home

    days = sorted(HomeDir(trn_home()).sweeps.glob("*/*/*"), reverse=True)
    found: list[str] = []
    for day in days:
        found += sorted((d.name for d in day.iterdir() if d.name.startswith(prefix)), reverse=True)
        if len(found) >= limit:
            break
    return found[:limit]


def group_options(group: str) -> list[str]:
    """The options of ``group`` on the search path: the project's, then trn's."""
    from trn.config import searchpath

    return list(searchpath.options(group))


def config_tree() -> tuple[dict[str, Any], set[str]]:
    """The keys of the default config (primary + each group's default option, the project's
    ``config.yaml`` laid over trn's), and the groups."""
    import yaml

    from trn.config import searchpath
    from trn.config.project import find

    project = find()
    groups = searchpath.groups(project)
    trn = searchpath.load_yaml(searchpath.conf_dir() / "config.yaml")
    user = searchpath.project_primary(project)
    values: dict[str, Any] = {}
    if user is not None:
        trn, values = searchpath.merge_primary(trn, searchpath.load_yaml(user))
    tree = {k: v for k, v in trn.items() if k not in ("defaults", "hydra")}
    for group, option in searchpath.defaults_of(project).items():
        path = searchpath.option_file(group, option, project) if group in groups else None
        text = path.read_text() if path is not None else ""
        if path is not None and "@package _global_" not in text:
            tree[group] = yaml.safe_load(text) or {}
    for key, value in values.items():  # the project's own keys complete too
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key] = {**tree[key], **value}
        else:
            tree[key] = value
    from trn.config.arguments import TRN_OWNED, trainer_arguments

    # every argument of the installed Trainer, as `trn run trainer.KEY=` takes them
    args = {name: None for name in trainer_arguments() if name not in TRN_OWNED}
    tree["trainer"] = {**args, **(tree.get("trainer") or {})}
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
