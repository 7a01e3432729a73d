"""What Hydra's runtime would have told a config, told by trn: ``${trn:project_root}``,
``${trn:job_dir}``, ``${trn:job_id}``, and Hydra's own ``${hydra:runtime.output_dir}`` and
``${hydra:run.dir}`` (the job dir) and ``${hydra:runtime.cwd}`` (the project root).

trn composes with Hydra's compose API, not Hydra's app, so Hydra's ``hydra:`` resolver has no
runtime to read; while trn resolves a config (:func:`resolving`) its own stands in. A job's dir
and id do not exist when the job is planned: they resolve to themselves (the text
``${trn:job_dir}``) and stay so in the plan (``trn run --dry-run`` shows them); the supervisor
fills them in when it creates the job dir (:func:`fill`), so ``config.yaml`` holds the real
paths, and a resume or rerun of the job puts the text back (:func:`unfill`): the new job gets
its own dir.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NAMES = ("project_root", "job_dir", "job_id")
JOB_NAMES = ("job_dir", "job_id")  # known only once the job exists
# Hydra's runtime keys trn answers, and the trn resolver each one means
HYDRA = {"runtime.output_dir": "job_dir", "run.dir": "job_dir", "runtime.cwd": "project_root"}
FIX = "use ${trn:project_root}, ${trn:job_dir} or ${trn:job_id}"


class ResolverError(ValueError):
    """An interpolation trn cannot answer; its text is the whole one-line problem."""


def placeholder(name: str) -> str:
    return "${trn:" + name + "}"


@contextmanager
def resolving(root: Path | str | None) -> Iterator[None]:
    """trn's ``trn`` and ``hydra`` resolvers for the block (Hydra's own ``hydra`` put back
    after), with ``root`` as the project root; ``PROJECT_ROOT`` in the environment is the root
    too unless it is set (what lightning-hydra-template's ``rootutils`` sets, read by its
    ``${oc.env:PROJECT_ROOT}``)."""
    from omegaconf import OmegaConf
    from omegaconf.basecontainer import BaseContainer

    root = str(root) if root else None
    saved = {name: BaseContainer._resolvers.get(name) for name in ("trn", "hydra")}
    env_set = root is not None and not os.environ.get("PROJECT_ROOT")
    OmegaConf.register_new_resolver("trn", _trn(root), replace=True)
    OmegaConf.register_new_resolver("hydra", _hydra(root), replace=True)
    if env_set:
        os.environ["PROJECT_ROOT"] = root  # type: ignore[assignment]
    try:
        yield
    finally:
        if env_set:
            os.environ.pop("PROJECT_ROOT", None)
        for name, before in saved.items():
            if before is None:
                OmegaConf.clear_resolver(name)
            else:
                BaseContainer._resolvers[name] = before


def _trn(root: str | None) -> Callable[[str], str]:
    def resolve(name: str) -> str:
        if name in JOB_NAMES:
            return placeholder(name)  # filled in when the job exists
        if name == "project_root":
            if root is None:
                raise ResolverError(
                    "${trn:project_root}: no project found (no --config-dir, TRN_CONFIG_DIR or "
                    "[tool.trn] in a pyproject.toml from here up); run from inside your project "
                    "or pass --config-dir"
                )
            return root
        raise ResolverError(f"${{trn:{name}}}: trn has no such value; {FIX}")

    return resolve


def _hydra(root: str | None) -> Callable[[str], str]:
    def resolve(path: str) -> str:
        name = HYDRA.get(path)
        if name == "project_root" and root is None:
            return os.getcwd()  # Hydra's own answer: where the command ran
        if name is not None:
            return _trn(root)(name)
        raise ResolverError(
            f"${{hydra:{path}}}: trn composes without Hydra's runtime, which would say it; "
            f"{FIX} (${{hydra:runtime.output_dir}} and ${{hydra:run.dir}} are the job dir)"
        )

    return resolve


def fill(config: Any, job_dir: Path | str, job_id: str) -> Any:
    """``config`` with ``${trn:job_dir}`` and ``${trn:job_id}`` in its strings replaced by the
    job's own."""
    values = {placeholder("job_dir"): str(job_dir), placeholder("job_id"): job_id}
    return _replace(config, values)


def unfill(config: Any, job_dir: Path | str, job_id: str) -> Any:
    """:func:`fill` undone for a config that job ``job_id`` ran: its dir and id in strings
    become the placeholders again (the dir first: it holds the id)."""
    return _replace(config, {str(job_dir): placeholder("job_dir"), job_id: placeholder("job_id")})


def _replace(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _replace(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, values) for v in node]
    if isinstance(node, str):
        for old, new in values.items():
            node = node.replace(old, new)
    return node


def explain(reason: str) -> str | None:
    """The problem of a resolver of trn's in OmegaConf's error text, or None."""
    marker = f"{ResolverError.__name__} raised while resolving interpolation: "
    return reason.split(marker, 1)[1] if marker in reason else None
