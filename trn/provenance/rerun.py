"""The pure half of ``trn rerun JOB [OVERRIDE ...]``: the new job's config and the code check.

A rerun starts from the job's *resolved* config (``config.yaml``), not from its overrides composed
again against today's ``conf/``: defaults that changed since must not leak in. The new overrides
are applied onto that dict (Hydra's override grammar, OmegaConf's update), so only values can
change; picking another config group (``optimizer=sgd``) needs a fresh ``trn run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trn.config.objective import chosen
from trn.errors import UsageError
from trn.jobdir import JobDir


@dataclass
class Rerun:
    config: dict[str, Any]
    overrides: list[str]  # the new ones only: the record of the rerun lists these
    rerun_of: str
    warnings: list[str] = field(default_factory=list)


def rerun_config(
    config: dict[str, Any],
    overrides: list[str],
    rerun_of: str,
    validate: bool = True,
    project: Any = None,
) -> Rerun:
    """``config`` with ``overrides`` applied; raises :class:`UsageError` naming a bad one.
    ``project``: the job's (its own keys are not trn's to judge)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from trn.config.arguments import open_trainer

    parser, parsed = OverridesParser.create(), []
    for text in overrides:
        try:  # trainer.KEY: any Trainer argument, listed in the job's config or not
            parsed += parser.parse_overrides(open_trainer([text]))
        except HydraException as err:
            raise UsageError(f"{text}: {_first_line(err)} (see `trn run --help`)") from None
    cfg = OmegaConf.create(config)
    for override, text in zip(parsed, overrides):
        key = override.key_or_group
        if override.is_sweep_override():
            raise UsageError(
                f"{text}: a rerun is one job; give one value (or sweep with trn run -m)"
            )
        exists = OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING
        if override.is_delete():
            if not exists:
                raise UsageError(f"{text}: job {rerun_of}'s config has no {key} to delete")
            _delete(cfg, key)
            continue
        if not exists and not (override.is_add() or override.is_force_add()):
            raise UsageError(
                f"{text}: job {rerun_of}'s config has no {key}; write +{text} to add it"
            )
        if exists and override.is_add():
            raise UsageError(f"{text}: {key} is already set; write {text[1:]} to change it")
        value = override.value()
        if exists and OmegaConf.is_dict(OmegaConf.select(cfg, key)) and not isinstance(value, dict):
            raise UsageError(
                f"{text}: {key} is a config group, resolved when job {rerun_of} ran; a rerun "
                f"changes values ({key}.NAME=VALUE), or start a fresh `trn run {text}`"
            )
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    from trn.config.resolvers import resolving

    with resolving(getattr(project, "root", None)):  # ${trn:job_dir} stays for the new job
        result: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    chosen(result, overrides)  # an objective set now is the user's, no longer trn's default
    if validate:
        from trn.config.validate import validate as check

        check(result, project)
    return Rerun(config=result, overrides=list(overrides), rerun_of=rerun_of)


_MISSING = object()


def _delete(cfg: Any, key: str) -> None:
    from omegaconf import OmegaConf

    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    del parent[leaf]


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def code_drift(job_id: str, then: dict[str, Any] | None, now: dict[str, Any] | None) -> str | None:
    """One line saying how today's code differs from what ``job_id`` ran; None when it does not
    (or when either side could not be recorded: nothing to compare)."""
    if not then or not now or then.get("error") or now.get("error"):
        return None
    changes = []
    if then.get("commit") != now.get("commit"):
        changes.append(f"commit {_short(then.get('commit'))} -> {_short(now.get('commit'))}")
    if now.get("dirty") and not then.get("dirty"):
        changes.append("uncommitted changes now, none then")
    elif then.get("dirty") and not now.get("dirty"):
        changes.append(
            f"its uncommitted changes ({then.get('patch') or JobDir.CODE_PATCH}) are not here"
        )
    elif then.get("dirty") and then.get("patch_sha256") != now.get("patch_sha256"):
        changes.append("other uncommitted changes than its code.patch")
    if then.get("snapshot_sha256") and now.get("snapshot_sha256") != then["snapshot_sha256"]:
        changes.append(f"its source files differ from its {then.get('snapshot') or 'snapshot'}")
    if not changes:
        return None
    return f"the code differs from what job {job_id} ran: {'; '.join(changes)}"


def check_drift(
    job_id: str, then: dict[str, Any] | None, now: dict[str, Any] | None, strict: bool
) -> str | None:
    """The warning line to print, or (``strict``) a :class:`UsageError` instead."""
    line = code_drift(job_id, then, now)
    if line and strict:
        raise UsageError(f"{line} (--strict); check out its commit and apply its code.patch")
    return line


def _short(commit: Any) -> str:
    return str(commit)[:12] if commit else "none"
