"""Resume planning: a new job that continues a checkpoint exactly where it stopped.

``plan_resume("JOB" | "PATH.meta.json", overrides) -> Plan``: the checkpoint is verified
(size, sha256), the original config is restored from its meta, ``overrides`` go on top (more
epochs, another cadence, other devices), and the plan records ``parent_job_id`` and
``attempt + 1``. Overrides that would change what the checkpoint's tensors mean (the model, the
dataset, the optimizer's type) are refused with the reason. ``trn resume``, ``trn run resume=``
and the Slurm requeue path all call this.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from trn.checkpoints.meta import META_SUFFIX, find_latest, judge, verify
from trn.config.objective import chosen
from trn.errors import ConfigError, NotFound, UsageError
from trn.jobdir import JobDir
from trn.lifecycle.plan import Plan, check_data
from trn.registry.record import LIVE, JobRecord, view

# key prefix -> why a resume cannot change it
FROZEN = {
    "model": "changes the model, whose saved weights would no longer fit",
    "data._target_": "changes the data module, whose saved position would no longer mean anything",
    "data.path": "changes the dataset under a half-finished epoch",
    "data.features": "changes the input shape the model was built for",
    "optimizer._target_": "changes the optimizer type, whose saved state would not fit",
    "weights": "initialises a new model; a resume continues the checkpoint's own",
    "resume": "is what is being resumed; give it once",
}
FIX = "start a new job with weights=PATH.meta.json to fine-tune from this checkpoint instead"


def resolve_checkpoint(
    target: str | Path, home: Path | None = None
) -> tuple[Path, JobRecord | None]:
    """The meta to resume from, and the record of the job named (None for a meta path).

    A job's newest valid checkpoint; a resumed job that died before its first checkpoint falls
    back to its parent's (and so on up the chain).
    """
    text = str(target)
    if text.endswith(META_SUFFIX) or os.sep in text or Path(text).exists():
        return Path(text).resolve(), None
    from trn.registry.store import Registry

    registry = Registry(home)
    named = record = registry.find(text)
    if named.kind == "eval":  # it trained nothing: there is nothing of its to continue
        of = (named.evaluates or {}).get("job_id") or "the job it evaluated"
        raise UsageError(f"job {named.job_id} is an eval job; resume {of} instead")
    state = view(named).state  # a lost job is resumable: nobody will end it
    if state in LIVE and named.host == socket.gethostname():
        raise UsageError(
            f"job {named.job_id} is still {state}; stop it first "
            f"(trn cancel {named.job_id}), then resume it"
        )
    for _ in range(1000):  # a chain of attempts; the bound only guards against a cycle
        meta = find_latest(JobDir(record.job_dir).checkpoints)
        if meta is not None:
            return meta, named
        if not record.parent_job_id:
            break
        record = registry.find(record.parent_job_id)
    raise NotFound(
        f"job {named.job_id} ({state}) has no valid checkpoint to resume from, "
        "nor has any job it resumed; start it again with `trn run`"
    )


def parent_attempt(meta_path: Path, meta: dict[str, Any]) -> int:
    """The parent job's attempt: from its record when it is there, else from the meta."""
    try:
        record = json.loads(JobDir(meta_path.parent.parent).record.read_text())
        if record.get("job_id") == meta["job_id"]:
            return int(record.get("attempt") or 1)
    except (OSError, ValueError, TypeError):
        pass
    return int(meta.get("attempt") or 1)


def apply_overrides(
    config: dict[str, Any],
    overrides: list[str],
    frozen: dict[str, str] = FROZEN,
    fix: str = FIX,
    what: str = "a resume",
) -> dict[str, Any]:
    """``config`` with Hydra-syntax ``key=value`` / ``+key=value`` overrides applied; one that
    sets a key of ``frozen`` is refused with its reason and ``fix``."""
    from omegaconf import OmegaConf

    from trn.config.arguments import open_trainer
    from trn.config.compose import parse_overrides

    parsed = parse_overrides(open_trainer(overrides))  # trainer.KEY: any Trainer argument
    cfg = OmegaConf.create(config)
    problems = []
    for text, o in zip(overrides, parsed):
        key = o.key_or_group
        hit = next((p for p in frozen if key == p or key.startswith(p + ".")), None)
        hit = hit or next((p for p in frozen if p.startswith(key + ".")), None)
        missing = OmegaConf.select(cfg, key, default=_MISSING) is _MISSING
        if hit:
            problems.append(f"{text}: {what} cannot take it, it {frozen[hit]}; {fix}")
        elif o.is_sweep_override() or o.is_delete():
            problems.append(f"{text}: {what} takes plain key=value overrides only")
        elif missing and not (o.is_add() or o.is_force_add()):
            problems.append(f"{text}: no key {key!r} in the checkpoint's config; write +{text}")
        elif isinstance(OmegaConf.select(cfg, key), dict | type(cfg)) and isinstance(
            o.value(), str
        ):
            problems.append(f"{text}: {what} cannot swap config group {key!r}; set {key}.KEY=...")
        else:
            add = o.is_add() or o.is_force_add()
            OmegaConf.update(cfg, key, o.value(), merge=False, force_add=add)
    if problems:
        raise ConfigError(problems)
    result: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    return chosen(result, overrides)  # an objective set now is the user's, not trn's default


_MISSING = object()


def check_unfinished(meta: dict[str, Any], config: dict[str, Any], meta_path: Path) -> None:
    """A resume with no epoch left to train would start a job that does nothing: refuse it.

    An ``epoch`` checkpoint is taken after epoch ``meta["epoch"]`` (0-based) ends; an ``end`` one
    after training ended, when Lightning has already counted the last epoch. Other checkpoints
    may be mid-epoch, so they always resume."""
    done = {"epoch": meta["epoch"] + 1, "end": meta["epoch"]}.get(meta.get("reason", ""))
    limit = config["trainer"]["max_epochs"]
    if done is not None and done >= limit:
        name = meta_path.name[: -len(META_SUFFIX)]
        raise UsageError(
            f"nothing to resume: checkpoint {name} has trained all {limit} epochs "
            f"(trainer.max_epochs={limit}); to train on, raise it, e.g. "
            f"trainer.max_epochs={done + limit}"
        )


def plan_resume(
    job_or_meta: str | Path,
    overrides: list[str] | None = None,
    *,
    home: Path | None = None,
    sweep_id: str | None = None,
    allow_finished: bool = False,
) -> Plan:
    """A plan for a new job continuing ``job_or_meta`` (a job id/prefix or a meta path).

    A checkpoint with no epoch left to train is refused (a user would start a job that does
    nothing) unless ``allow_finished``: a requeue after a late preemption just completes."""
    from trn.config.loggers import prepare_loggers
    from trn.config.project import for_resume
    from trn.config.resolvers import resolving, unfill
    from trn.config.validate import validate
    from trn.devices.manager import plan_allocation
    from trn.paths import trn_home

    overrides = list(overrides or [])
    meta_path, named = resolve_checkpoint(job_or_meta, home)
    meta, ckpt = verify(meta_path)
    parent_id = named.job_id if named else meta["job_id"]
    attempt = int(named.attempt or 1) if named else parent_attempt(meta_path, meta)
    parent_dir = named.job_dir if named else meta_path.parent.parent
    # the parent's own dir and id go back to ${trn:job_dir}/${trn:job_id}: this job's are new
    restored = dict(unfill(meta["config"], parent_dir, meta["job_id"]))
    # Never trusted from a file: only the project's own declaration (read afresh now) and the
    # overrides given now may widen what is instantiated.
    project = for_resume(named, job_dir=meta_path.parent.parent)
    restored["allow_targets"] = list(project.allow_targets)
    with resolving(project.root):
        config = apply_overrides(restored, overrides)
    config["resume"], config["weights"] = str(meta_path), None
    validate(config, project)
    with project.on_path():  # what its pickle names, judged as the runner's load will judge it
        judge(ckpt, f"checkpoint {ckpt}", config["allow_targets"], project.trust_hint)
    if not allow_finished:
        check_unfinished(meta, config, meta_path)
    home = Path(home) if home else trn_home()
    check_data(config, project.root, home)
    prepare_loggers(config, home)
    return Plan(
        config=config,
        overrides=[f"resume={meta_path}", *overrides],
        allocation=plan_allocation(config["devices"], home),
        home=home,
        attempt=attempt + 1,
        parent_job_id=parent_id,
        sweep_id=sweep_id,
        sweep_point=named.sweep_point if named else None,  # a sweep's point goes on
        env=project.env(),
        project=project.to_record(),
        mlflow_run_id=_mlflow_run(config, named, meta_path),
    )


def _mlflow_run(config: dict[str, Any], named: JobRecord | None, meta_path: Path) -> str | None:
    """The MLflow run the parent logged to, which the resume continues (logger=mlflow only):
    the named job's, or that of the job whose checkpoint the meta path is."""
    if "mlflow" not in (config.get("logger") or {}):
        return None
    if named is not None:
        return named.mlflow_run_id
    try:
        record = JobRecord.from_dict(json.loads(JobDir(meta_path.parent.parent).record.read_text()))
    except (OSError, ValueError):
        return None
    return record.mlflow_run_id
