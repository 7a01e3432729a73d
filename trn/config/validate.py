"""Validate a composed config: every problem at once, each named in override syntax."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from trn.config.arguments import key_of as _key
from trn.errors import ConfigError
from trn.paths import schema_path
from trn.text import did_you_mean

# `_target_`s instantiated without asking; `allow_targets` in the config extends this.
ALLOWED_TARGETS = (
    "trn.",
    "torch.nn.",
    "torch.optim.",
    "lightning.pytorch.demos.",
    "lightning.pytorch.callbacks.",
)


@lru_cache(maxsize=1)
def config_schema() -> dict[str, Any]:
    return json.loads(schema_path("config.schema.json").read_text())


def resolve(cfg: Any, root: Any = None) -> dict[str, Any]:
    """Resolve interpolations into a plain dict, trn's resolvers answering for ``root`` (the
    project root); missing values and bad interpolations are errors."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from trn.config.resolvers import explain, resolving

    try:
        with resolving(root):  # missing_keys resolves interpolations too
            missing = sorted(OmegaConf.missing_keys(cfg))
            if missing:
                raise ConfigError([f"{key} has no value; set {key}=VALUE" for key in missing])
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "config"
        reason = str(err).strip().splitlines()[0]
        ours = explain(reason)
        if ours is not None:
            raise ConfigError([f"{key}: {ours}"]) from None
        gone = re.match(r"Interpolation key '([^']+)' not found", reason)
        if gone:
            raise ConfigError(
                [
                    f"{key}: interpolates ${{{gone[1]}}}, which is not in the config; set "
                    f"{gone[1]}=VALUE or fix the interpolation"
                ]
            ) from None
        raise ConfigError([f"{key}: {reason}; fix the ${{...}} interpolation"]) from None


def _explain(error: Any) -> str:
    """One jsonschema error as ``key=value: problem; fix``."""
    key = _key(list(error.absolute_path))
    value = json.dumps(error.instance) if not isinstance(error.instance, dict) else "{...}"
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        where = f"{key}." if key != "config" else ""
        props = list(error.schema.get("properties", {}))
        hint = "".join(did_you_mean(e, props, where) for e in extra)
        return (
            f"{', '.join(where + e for e in extra)}: unknown key{hint}; remove it "
            f"(known keys{' of ' + key if where else ''}: {known})"
        )
    if v == "required":
        missing = error.message.split("'")[1]
        where = f"{key}." if key != "config" else ""
        return f"{where}{missing} is required; set {where}{missing}=VALUE"
    if v == "type":
        want = error.validator_value
        want = _a(" or ".join(want) if isinstance(want, list) else want)
        return f"{key}={value} is not {want}; set {key} to {want}"
    if v == "enum":
        opts = ", ".join(json.dumps(o) for o in error.validator_value)
        return f"{key}={value} is not one of {opts}; pick one of them"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"{key}={value} is out of range; set {key} {op} {error.validator_value}"
    if v == "anyOf":
        return f"{key}={value} is not valid; use an integer count >= 1 or a fraction in (0, 1]"
    if v == "minLength" and error.validator_value == 1:
        return f"{key} is empty; set {key} to a non-empty string"
    if v == "maxLength":
        return f"{key}={value} is too long; use at most {error.validator_value} characters"
    if v == "pattern":
        fix = error.schema.get("x-fix", f"see `trn run --cfg job` and docs/config.md for {key}")
        return f"{key}={value} has the wrong form (it must match {error.validator_value}); {fix}"
    return f"{key}={value}: {error.message}"


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _top(target: str) -> str:
    """The prefix to trust for ``target``: its top-level package, ``mypkg.models.Net`` ->
    ``mypkg.``."""
    head = target.split(".", 1)[0]
    return f"{head}." if "." in target else target


def allowed(config: dict[str, Any]) -> tuple[str, ...]:
    """The ``_target_`` prefixes ``config`` may instantiate."""
    return ALLOWED_TARGETS + tuple(config.get("allow_targets") or [])


def check_targets(config: dict[str, Any], project: Any = None) -> list[str]:
    """A problem per ``_target_`` outside the allowlist; ``project``: whose files say how to
    trust it (see :meth:`trn.config.project.Project.trust_hint`)."""
    trusted = allowed(config)
    problems = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            target = node.get("_target_")
            if isinstance(target, str) and not target.startswith(trusted):
                key = _key(path + ["_target_"])
                if project is None:
                    fix = f"add its prefix with 'allow_targets=[{_top(target)}]' if you trust it"
                else:
                    fix = f"if you trust it, {project.trust_hint(_top(target))}"
                problems.append(f"{key}={target} is not in the instantiate allowlist; {fix}")
            for k, v in node.items():
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])

    walk(config, [])
    return problems


def targets(node: Any, path: list[Any] | None = None) -> list[tuple[str, str]]:
    """Every ``(key, _target_)`` of a resolved config."""
    path = path or []
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            out.append((_key(path + ["_target_"]), node["_target_"]))
        for k, v in node.items():
            out += targets(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += targets(v, path + [i])
    return out


def validate(config: dict[str, Any], project: Any = None) -> None:
    """Raise :class:`ConfigError` listing every problem of a resolved config: trn's schema over
    trn's keys (the keys the project's config dir defines are its own), the allowlist, and
    each ``_target_``'s and the Trainer's arguments read from source. With ``project`` the
    refusals say which of its files would trust a target."""
    import jsonschema

    from trn.config.arguments import check_arguments
    from trn.config.callbacks import check_callbacks

    validator = jsonschema.Draft202012Validator(config_schema())
    judged = {k: v for k, v in config.items() if k not in project_keys(config, project)}
    errors = sorted(validator.iter_errors(judged), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_explain(e) for e in errors] + check_targets(config, project)
    root = getattr(project, "root", None)
    judged_keys = {_key(list(e.absolute_path)) for e in errors}
    for problem in check_arguments(config, allowed(config), root):
        if re.match(r"[^=: ]+", problem).group(0) not in judged_keys:  # type: ignore[union-attr]
            problems.append(problem)  # (a key the schema refused already is said once)
    problems += check_callbacks(config, allowed(config), root)
    if problems:
        raise ConfigError(problems)


def project_keys(config: dict[str, Any], project: Any) -> set[str]:
    """The top-level keys of ``config`` that are not trn's but the project's: defined in its
    config dir (:func:`trn.config.searchpath.declared_keys`; read only when there are any)."""
    unknown = set(config) - set(config_schema()["properties"])
    if not unknown or project is None:
        return set()
    from trn.config.searchpath import declared_keys

    return unknown & declared_keys(project)


def trust(config: dict[str, Any], project: Any) -> dict[str, Any]:
    """``config`` with the project's trusted prefixes in ``allow_targets``, so the runner, which
    checks again before it instantiates, trusts what planning trusted."""
    given = list(config.get("allow_targets") or [])
    config["allow_targets"] = list(dict.fromkeys(given + list(project.allow_targets)))
    return config


def load(overrides: list[str], config_dir: Any = None, *, project: Any = None) -> dict[str, Any]:
    """Compose, resolve and validate: the config a job will run, as a plain dict, on the
    search path of ``project`` (default: the one found from ``config_dir`` or the environment)."""
    from trn.config.compose import compose, find_project
    from trn.config.objective import settle

    project = find_project(config_dir) if project is None else project
    config = trust(resolve(settle(compose(overrides, project=project)), project.root), project)
    validate(config, project)
    return config
