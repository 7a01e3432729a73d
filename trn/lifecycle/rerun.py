"""``trn rerun JOB [OVERRIDE ...]``: a new job from JOB's resolved config, with overrides on top.

The config is the one the job ran (its ``config.yaml``), not its overrides composed again against
today's ``conf/`` (:mod:`trn.provenance.rerun`). When the project's code is no longer what the job
ran, the caller gets one warning line to show before the job starts (``strict``: a usage error).
"""

from __future__ import annotations

from pathlib import Path

from trn.lifecycle.plan import Plan, check_data


def plan_rerun(
    job: str, overrides: list[str], *, strict: bool = False, home: Path | None = None
) -> tuple[Plan, str | None]:
    """The plan of the rerun, and the code-drift warning (None when the code is the same)."""
    from trn.config.loggers import prepare_loggers
    from trn.config.project import for_resume
    from trn.config.resolvers import unfill
    from trn.devices.manager import plan_allocation
    from trn.provenance.code import capture_project
    from trn.provenance.jobfiles import code_of, config_of
    from trn.provenance.rerun import check_drift, rerun_config
    from trn.registry.store import Registry
    from trn.runner.usermodule import check_plan

    registry = Registry(home)
    record = registry.find(job)
    project = for_resume(record)  # the project the job ran in, its trust read afresh
    # the job's own dir and id go back to ${trn:job_dir}/${trn:job_id}: the rerun's are new
    ran = unfill(config_of(record), record.job_dir, record.job_id)
    rerun = rerun_config(ran, list(overrides), record.job_id, project=project)
    now = capture_project(project.root or Path.cwd(), None, found=project.root is not None)
    warning = check_drift(record.job_id, code_of(record), now, strict)
    check_data(rerun.config, project.root, registry.home)
    prepare_loggers(rerun.config, registry.home)
    with project.on_path():
        check_plan(rerun.config, rerun.overrides, project.root)
    plan = Plan(
        config=rerun.config,
        overrides=rerun.overrides,
        allocation=plan_allocation(rerun.config["devices"], registry.home),
        home=registry.home,
        rerun_of=rerun.rerun_of,
        env=project.env(),
        project=project.to_record(),
        kind=record.kind or "train",  # an eval job's rerun evaluates its checkpoint again
        evaluates=record.evaluates,
    )
    return plan, warning
