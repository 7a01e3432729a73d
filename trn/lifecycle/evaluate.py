"""Eval planning: ``trn eval JOB|CHECKPOINT [OVERRIDES]``, a job of its own (``kind: eval``).

The checkpoint is a job's best (``best.json``, else its newest) or a ``.meta.json`` given by
path; it is verified and judged (:func:`trn.checkpoints.meta.judge`) as a resume's is. The job
runs the checkpoint's own config with ``overrides`` on top (other data, other devices, a
``trainer.limit_test_batches``...), and the runner calls ``trainer.test`` (or
``trainer.validate``: ``stage="validate"``) on it (:mod:`trn.runner.stages`). Everything that
can be refused is refused here, before a job exists: a checkpoint that is gone or is no trn
checkpoint, a model or data without the stage, and model overrides whose model the
checkpoint's weights do not fit.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from trn.checkpoints.meta import META_SUFFIX, find_latest, judge, verify
from trn.errors import UsageError
from trn.jobdir import JobDir
from trn.lifecycle.plan import Plan, check_data
from trn.lifecycle.resume import apply_overrides
from trn.registry.record import JobRecord, view

STAGES = ("test", "validate")
FROZEN = {
    "resume": "continues training; an eval only evaluates",
    "weights": "initialises a new model; an eval evaluates the checkpoint's own",
}
FIX = "give the checkpoint to evaluate as `trn eval JOB|CHECKPOINT`"
GIVE = "give a job id (see `trn list`) or a checkpoint's NAME.meta.json"


def find_checkpoint(target: str, home: Path | None = None) -> tuple[Path, JobRecord | None]:
    """The meta to evaluate, and the record of the job named (None for a path): a job's best
    checkpoint, else its newest; a path is a ``.meta.json`` (or the ``.ckpt`` beside one)."""
    if target.endswith((META_SUFFIX, ".ckpt")) or os.sep in target or Path(target).exists():
        return _meta_path(target), None
    from trn.registry.store import Registry

    record = Registry(home).find(target)
    if record.kind == "eval":
        of = (record.evaluates or {}).get("job_id") or "the job it evaluated"
        raise UsageError(f"job {record.job_id} is an eval job; evaluate {of} instead")
    checkpoints = JobDir(record.job_dir).checkpoints
    if not checkpoints.parent.is_dir():
        raise UsageError(
            f"job {record.job_id}'s dir {checkpoints.parent} is gone (deleted by `trn gc`?); "
            f"nothing to evaluate: {GIVE}"
        )
    meta = _best(checkpoints) or find_latest(checkpoints)
    if meta is None:
        raise UsageError(
            f"job {record.job_id} ({view(record).state}) has no valid checkpoint to evaluate; "
            "train it (`trn resume`) or evaluate another job"
        )
    return meta, record


def _meta_path(target: str) -> Path:
    path = Path(target).expanduser().resolve()
    if path.name.endswith(".ckpt"):
        beside = path.with_name(path.name[: -len(".ckpt")] + META_SUFFIX)
        if path.exists() and not beside.exists():
            raise UsageError(
                f"{target}: a .ckpt without its {beside.name}, so not a trn checkpoint; {GIVE}"
            )
        path = beside
    if not path.exists():
        raise UsageError(f"{target}: no such checkpoint (is its job dir gone?); {GIVE}")
    if not path.name.endswith(META_SUFFIX) or not path.is_file():
        raise UsageError(f"{target}: not a trn checkpoint; {GIVE}")
    return path


def _best(checkpoints: Path) -> Path | None:
    """The meta ``best.json`` names, if it verifies."""
    import json

    try:
        name = json.loads((checkpoints / JobDir.BEST).read_text()).get("meta")
        if isinstance(name, str) and "/" not in name:
            verify(checkpoints / name)
            return checkpoints / name
    except (OSError, ValueError, AttributeError, UsageError):
        pass
    return None


def plan_eval(  # safe: "eval" is the evaluation job (trainer.test/validate), not Python's eval()
    target: str,
    overrides: list[str] | None = None,
    *,
    stage: str = "test",
    home: Path | None = None,
) -> Plan:
    """A plan for an eval job of ``target`` (a job id/prefix, or a checkpoint's meta path)."""
    from trn.config.loggers import prepare_loggers
    from trn.config.project import for_resume
    from trn.config.resolvers import resolving, unfill
    from trn.config.validate import validate
    from trn.devices.manager import plan_allocation
    from trn.paths import trn_home

    if stage not in STAGES:
        raise UsageError(f"--stage {stage}: evaluate with --stage test or --stage validate")
    overrides = list(overrides or [])
    meta_path, named = find_checkpoint(target, home)
    meta, ckpt = verify(meta_path)
    project = for_resume(named, job_dir=meta_path.parent.parent)
    # the trained job's own dir and id go back to ${trn:job_dir}/${trn:job_id}: the eval job's
    # are new
    job_dir = named.job_dir if named else meta_path.parent.parent
    restored = dict(unfill(meta["config"], job_dir, meta["job_id"]))
    restored["allow_targets"] = list(project.allow_targets)
    with resolving(project.root):
        config = apply_overrides(restored, overrides, FROZEN, FIX, "an eval")
    config["resume"], config["weights"] = None, None
    validate(config, project)
    home = Path(home) if home else trn_home()
    check_data(config, project.root, home)
    prepare_loggers(config, home)
    with project.on_path():  # the project's code: its classes, its module's stage
        judge(ckpt, f"checkpoint {ckpt}", config["allow_targets"], project.trust_hint)
        check_stage(config, stage, project.root)
        if config["model"] != meta["config"]["model"]:
            check_fits(config, meta_path)
    return Plan(
        config=config,
        overrides=overrides,
        allocation=plan_allocation(config["devices"], home),
        home=home,
        env=project.env(),
        project=project.to_record(),
        kind="eval",
        evaluates={"checkpoint": str(meta_path), "stage": stage, "job_id": meta["job_id"]},
    )


def check_stage(config: dict[str, Any], stage: str, root: Any = None) -> None:
    """The model and the data have what ``stage`` runs: its step, and its data (a trn dataset's
    split, else the data module's, or the module's own, dataloader)."""
    from trn.runner import usermodule

    step, loader, split = {
        "test": ("test_step", "test_dataloader", "test"),
        "validate": ("validation_step", "val_dataloader", "val"),
    }[stage]
    other = "validate" if stage == "test" else "test"
    if usermodule.is_lightning_module(config, root):
        cls = _class(config["model"]["_target_"])
        if not _overrides(cls, step, "lightning.pytorch.LightningModule"):
            raise UsageError(
                f"model._target_={config['model']['_target_']} has no {step}, so nothing to "
                f"{stage}; define one, or evaluate with --stage {other}"
            )
    data = config.get("data") or {}
    if data.get("_target_") == "trn.data.datamodule.ShardDataModule":
        _check_split(data, split, other, root)
    elif data.get("_target_"):
        if not _overrides(
            _class(data["_target_"]), loader, "lightning.pytorch.LightningDataModule"
        ):
            raise UsageError(
                f"data._target_={data['_target_']} has no {loader}; define one, or evaluate "
                f"with --stage {other}"
            )


def _check_split(data: dict[str, Any], split: str, other: str, root: Any = None) -> None:
    from trn.data.index import load_index, resolve_dataset

    splits = load_index(resolve_dataset(data["path"], root)).splits
    if split not in splits:
        raise UsageError(
            f"data.path={data['path']} has no {split} split (it has: {', '.join(splits)}); "
            f"evaluate with --stage {other}, or on data with one (data.path=DIR)"
        )


def _class(target: str) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as err:  # noqa: BLE001 - an import of the user's code fails any way
        raise UsageError(f"{target}: cannot import it ({err}); fix the name") from None


def _overrides(cls: Any, name: str, base: str) -> bool:
    from hydra.utils import get_object

    return getattr(cls, name, None) is not getattr(get_object(base), name)


def check_fits(config: dict[str, Any], meta_path: Path) -> None:
    """The model the (overridden) config builds has the checkpoint's parameters and shapes."""
    from trn.checkpoints.load import load_weights
    from trn.runner import build

    with warnings.catch_warnings():  # the module's own advice is for its training, not here
        warnings.simplefilter("ignore")
        model = build.build_model(config, build.build_data(config))
    state = load_weights(meta_path, config["allow_targets"])
    problem = mismatch(model, state)
    if problem:
        raise UsageError(
            f"checkpoint {meta_path.name} does not fit model._target_="
            f"{config['model']['_target_']} as the overrides configure it ({problem}); "
            "evaluate it with the model config it was trained with (drop the model overrides)"
        )


def mismatch(model: Any, state: dict[str, Any]) -> str | None:
    """Why ``state`` (the checkpoint's weights, ``model.`` unprefixed) does not fit ``model``'s
    parameters and buffers by name and shape; None when it fits."""
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    candidates = [
        {k: tuple(getattr(v, "shape", ())) for k, v in form.items()}
        for form in (state, {f"model.{k}": v for k, v in state.items()})
    ]
    if mine in candidates:
        return None
    theirs = max(candidates, key=lambda c: len(set(c) & set(mine)))  # the closer form
    missing, unexpected = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    if missing or unexpected:
        return f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}"
    key = next(k for k in mine if mine[k] != theirs[k])
    return f"{key} is {list(theirs[key])} in the checkpoint, {list(mine[key])} in the model"
