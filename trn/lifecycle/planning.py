"""Plan, then execute: ``make_plan`` composes and validates the config and picks devices.

A ``resume=`` override hands over to :mod:`trn.lifecycle.resume`, which restores the checkpoint's own
config; ``plan_with_flags`` is ``trn run``'s flags (``--config``, ``--weights``, ...) on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trn.config.loggers import prepare_loggers
from trn.devices.manager import plan_allocation
from trn.devices.request import check_one_machine
from trn.lifecycle.plan import Plan, check_data
from trn.lifecycle.resume import plan_resume
from trn.paths import trn_home


def make_plan(
    overrides: list[str],
    *,
    home: Path | None = None,
    config_dir: Path | None = None,
    sweep_id: str | None = None,
    one_machine: bool = False,
) -> Plan:
    """The plan of a job of ``overrides``; ``one_machine``: this machine's launcher starts it,
    so it cannot span nodes (a Slurm job's plan may)."""
    from trn.config.arguments import as_written
    from trn.config.compose import find_project
    from trn.config.imports import check_imports
    from trn.config.validate import load

    resume = [o.partition("=")[2] for o in overrides if o.startswith("resume=")]
    if resume and resume[-1] not in ("", "null"):  # a resume restores its checkpoint's config
        rest = [o for o in overrides if not o.startswith("resume=")]
        return plan_resume(resume[-1], rest, home=home, sweep_id=sweep_id)
    project = find_project(config_dir)  # its config dir first; its root on the job's path
    config = load(overrides, project=project)
    if one_machine:
        check_one_machine(config["devices"])
    check_imports(config, project)  # a _target_ whose module the job could not import
    home = Path(home) if home else trn_home()
    check_data(config, project.root, home)
    prepare_loggers(config, home)  # a logger whose package is missing fails now, not at start
    from trn.runner.usermodule import check_plan

    with project.on_path():  # a LightningModule: trn's optimizer groups do not apply
        check_plan(config, overrides, project.root)
    if config.get("weights"):  # a missing, corrupt or untrusted file fails now, not in the runner
        from trn.checkpoints.meta import check_weights

        with project.on_path():  # the classes its pickle names are imported to be judged
            trusted = config["allow_targets"]
            config["weights"] = check_weights(config["weights"], trusted, project.trust_hint)
    return Plan(
        config=config,
        overrides=as_written(overrides),  # a sweep's trainer.KEY, opened for Hydra, as given
        # a preview (UsageError if never possible here); the supervisor leases the real GPUs
        allocation=plan_allocation(config["devices"], home),
        home=home,
        sweep_id=sweep_id,
        env=project.env(),
        project=project.to_record(),
    )


def plan_with_flags(flags: Any, overrides: list[str], **kwargs: Any) -> Plan:
    """:func:`make_plan` for ``trn run``'s flags (:class:`trn.config.flags.Flags`) plus
    overrides; errors name the flag at fault."""
    from trn.config.flags import annotate, resolve
    from trn.config.project import using
    from trn.errors import UsageError

    with using(getattr(flags, "config_dir", None)):  # --config-dir / trn.submit(config_dir=)
        resolved = resolve(flags, overrides, kwargs.get("config_dir"))
        kwargs.setdefault("home", resolved.home)
        try:  # --log-dir is the home of every step of planning, passed down (never the env's)
            # a single job: this machine starts it, alone
            return make_plan(resolved.overrides, one_machine=True, **kwargs)
        except UsageError as err:
            raise annotate(err, resolved.origins) from None
