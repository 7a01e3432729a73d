"""Compose the config with Hydra and turn Hydra's errors into one line each, in override syntax."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trn.errors import ConfigError, TrnError, UsageError
from trn.text import did_you_mean

PRIMARY = "config"


@contextmanager
def hydra_globals_kept() -> Iterator[None]:
    """Put Hydra's process-wide state back as it was after the block: its GlobalHydra and its
    ``version_base``. Hydra's own context managers keep the version_base they set, which would
    change the Hydra app of a program that calls trn (``hydra.job.chdir``, ...)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton
    from hydra.version import VersionBase

    hydra = GlobalHydra.instance().hydra
    before: Any = Singleton._instances.get(VersionBase)
    base = before.version_base if before is not None else None
    try:
        yield
    finally:
        GlobalHydra.instance().hydra = hydra
        if before is None:
            Singleton._instances.pop(VersionBase, None)
        else:
            before.version_base = base  # may be Hydra's "unspecified" marker, not a Version


@contextmanager
def hydra_session(project: Any = None) -> Iterator[None]:
    """Hydra initialised on trn's search path for ``project`` (default: :func:`find_project`,
    the project's config dir first, then trn's ``conf/``), leaving no global state behind."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra.core.global_hydra import GlobalHydra

    from trn.config.source import search_path

    path = search_path(find_project() if project is None else project)
    with hydra_globals_kept():
        version.setbase("1.3")
        GlobalHydra.instance().clear()
        Hydra.create_main_hydra2(task_name="trn", config_search_path=path)
        yield


def find_project(config_dir: str | Path | None = None) -> Any:
    """The project every composer uses: ``config_dir`` given, else ``TRN_CONFIG_DIR``, else
    ``[tool.trn]`` above the working directory (:func:`trn.config.project.find`)."""
    from trn.config.project import find

    return find(config_dir)


def compose(overrides: list[str], config_dir: Path | None = None, *, project: Any = None) -> Any:
    """The composed ``DictConfig`` for ``overrides`` (not yet validated), on the search path of
    ``project`` (default: the one found from ``config_dir`` or the environment)."""
    import yaml
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    from trn.config.arguments import open_trainer

    project = find_project(config_dir) if project is None else project
    try:
        with hydra_session(project):
            return hydra_compose(config_name=PRIMARY, overrides=open_trainer(list(overrides)))
    except OverrideParseException as err:
        raise UsageError(explain_parse_error(overrides, str(err))) from None
    except MissingConfigException as err:
        raise UsageError(explain_missing_option(str(err), err.options, overrides)) from None
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError([explain_compose_error(err, overrides, project)]) from None
    except (ValueError, OSError) as err:  # e.g. a malformed YAML file or package header
        raise UsageError(f"cannot read the configs: {err}") from None
    except yaml.YAMLError as err:  # a config file that is not YAML: one line naming it
        raise UsageError(explain_yaml_error(err)) from None


def parse_overrides(overrides: list[str]) -> list[Any]:
    """Hydra's ``Override`` objects for ``overrides``; a syntax error is one line naming the
    override. (Hydra's parser sets the global version_base when none is: kept as it was.)"""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        with hydra_globals_kept():
            return OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as err:
        raise UsageError(explain_parse_error(list(overrides), str(err))) from None


def explain_parse_error(overrides: list[str], message: str) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            with hydra_globals_kept():
                parser.parse_overrides([override])
        except OverrideParseException as err:
            lines = [ln for ln in str(err).splitlines()[1:] if ln and not ln.startswith("See ")]
            reason = lines[0].split(" expecting ")[0] if lines else "cannot parse"
            return (
                f"override {override!r} is not valid Hydra syntax ({reason}); "
                "write key=value, e.g. optimizer.lr=0.001"
            )
    return " ".join(message.split())[:300]


def explain_missing_option(
    message: str, options: Sequence[str] | None, overrides: Sequence[str] = ()
) -> str:
    m = re.search(r"Could not (?:find|load) '([^']+)'", message)
    if m and "/" in m.group(1):
        from trn.config.searchpath import groups
        from trn.config.searchpath import options as options_of

        group, _, option = m.group(1).rpartition("/")
        project = find_project()
        if not options:  # one option of a list (group=[a,b]): Hydra does not list them
            options = list(options_of(group, project))
        where = "" if f"{group}={option}" in overrides else _selected_in(group, option, project)
        if not options and group not in groups(project):
            hint = did_you_mean(group, sorted(groups(project)))
            return f"{where}{group}={option}: no config group {group!r}{hint}; fix the name"
        avail = ", ".join(sorted(options or [])) or "none"
        hint = did_you_mean(option, options or [])
        line = (
            f"{where}{group}={option}: no such option in group {group!r}{hint}; available: {avail}"
        )
        return line + _unsearched(group, option)
    return message.strip().splitlines()[0]


def _selected_in(group: str, option: str, project: Any) -> str:
    """``FILE line N: `` of the project's config file whose defaults list selects
    ``group: option``; "" when no file of the project's does (the selection is trn's own)."""
    from trn.config.searchpath import entries

    pattern = re.compile(
        rf"^\s*-\s*(?:override\s+|optional\s+)*/?{re.escape(group)}(?:@\S+)?\s*:"
        rf"\s*['\"]?{re.escape(option)}['\"]?\s*(?:#.*)?$"
    )
    for entry in entries(project):
        if entry.provider != "project":
            continue
        for path in sorted(entry.path.rglob("*.yaml")):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for number, text in enumerate(lines, 1):
                if pattern.match(text):
                    return f"{path} line {number}: "
    return ""


def _unsearched(group: str, option: str) -> str:
    """Where ``group/option.yaml`` is, when it lies in a ``./conf`` that is not searched."""
    from trn.config.project import unsearched_conf, unsearched_hint

    project = find_project()
    conf = unsearched_conf(project)
    if conf is None or not (conf / group / f"{option}.yaml").is_file():
        return ""
    return f" ({conf / group / option}.yaml exists, but {unsearched_hint(project)})"


def explain_compose_error(
    err: Exception, overrides: Sequence[str] = (), project: Any = None
) -> str:
    text = str(err)
    m = re.search(r"Could not override '([^']+)'", text)
    if m:
        key = m.group(1)
        parent, _, leaf = key.rpartition(".")
        if parent == "trainer":  # not an argument of the Trainer (open_trainer took the rest)
            from trn.config.arguments import check_trainer

            said = check_trainer({leaf: None})  # none when Lightning's source is not readable
            if said:
                return said[0]
        return _unknown_key(key, [o for o in overrides if _override_key(o) != key], project)
    m = re.search(r"Could not delete from config. '([^']+)'", text)
    if m:
        return f"~{m.group(1)}: there is no such key to delete"
    m = re.search(r"Could not append to config. An item is already at '([^']+)'", text)
    if m:
        return f"+{m.group(1)}: the key already exists; drop the '+' to override it"
    return " ".join(text.split())[:300]


def _override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def _unknown_key(key: str, others: list[str], project: Any) -> str:
    """``KEY: no key 'PART' ...`` for the first part of ``key`` the config lacks, with the
    nearest key (or config group) at that level: the config is composed again without the
    override that failed, to see what it does have there."""
    from omegaconf import DictConfig

    parts = key.split(".")
    node: Any = None
    try:
        node = compose(others, project=project)
    except TrnError:  # another override fails too: it is named once this one is fixed
        pass
    depth, known = 0, []
    while isinstance(node, DictConfig) and depth < len(parts):
        known = [str(k) for k in node.keys()]
        if parts[depth] not in node:
            break
        node, depth = node[parts[depth]], depth + 1
    if node is not None and not isinstance(node, DictConfig) and 0 < depth < len(parts):
        whole = ".".join(parts[:depth])
        return f"{key}: {whole} is a value, not a group of keys; set {whole}=VALUE instead"
    part = parts[min(depth, len(parts) - 1)]
    where = ".".join(parts[:depth])
    if depth == 0:  # a top-level name may be a mistyped config group as well as a key
        from trn.config.searchpath import groups

        known = sorted(set(known) | groups(project))
    hint = did_you_mean(part, known, f"{where}." if where else "")
    inside = f" in {where}" if where else ""
    return (
        f"{key}: no key {part!r}{inside}{hint}; check the spelling (`trn run --cfg job` prints "
        f"the config) or write +{key}=VALUE to add a new key"
    )


def explain_yaml_error(err: Exception) -> str:
    """A config file that is not YAML: the file, the line and the fix."""
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return " ".join(f"cannot read the configs: {err}".split())[:300]
    reason = getattr(err, "problem", None) or "cannot parse it"
    return f"{mark.name} line {mark.line + 1}: not valid YAML ({reason}); fix the file"
