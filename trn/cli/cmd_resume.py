"""``trn resume JOB | --checkpoint META [OVERRIDES]``: a new job continuing a checkpoint exactly;
``trn resume SWEEP``: the rest of a sweep (:mod:`trn.lifecycle.sweep_resume`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trn.config import project
from trn.errors import UsageError

EXAMPLES = """examples:
  trn resume 261128-1520                          the job's newest valid checkpoint
  trn resume --checkpoint runs/.../checkpoints/e003-s0000120-step.meta.json
  trn resume 261128-1520 trainer.max_epochs=40    train on for more epochs
  trn resume 261128-1520 --dry-run --json         print the plan, start nothing
  trn resume 261128-1519-ab12                     a sweep: its unfinished points, numbered on
  trn resume 261128-1519 --retry-failed --detach  ... failed points too, in the background

The resumed job is a new job (parent_job_id, attempt + 1) with the checkpoint's config; overrides
that change the model, the dataset or the optimizer type are refused (use weights=META for that).
Same as: trn run resume=JOB|META [OVERRIDES]

A sweep (its id or a unique prefix) continues where it stopped: completed jobs are kept,
preempted, cancelled and lost ones resume from their checkpoints, points never started start;
an Optuna study goes on toward its n_trials. A changed search space or base config is refused
(--force accepts it). See docs/sweeps.md#resuming-a-sweep.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "resume",
        help="continue a job from its newest valid checkpoint (or --checkpoint META)",
        description="Start a new job that continues a checkpoint bit for bit: model, optimizer, "
        "scheduler, loop position, data order and RNG state.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "args",
        nargs="*",
        metavar="JOB|OVERRIDE",
        help="the job id (or a unique prefix), then Hydra overrides key=value",
    )
    p.add_argument("--checkpoint", metavar="META", help="a checkpoint's .meta.json instead of JOB")
    p.add_argument("--json", action="store_true", help="print the new job's record as JSON")
    p.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    p.add_argument("--detach", action="store_true", help="run in the background, print the id")
    p.add_argument(
        "--retry-failed", action="store_true", help="a sweep: run its failed points again"
    )
    p.add_argument(
        "--include-pruned",
        action="store_true",
        help="a sweep: continue the trials early stopping pruned, to the end",
    )
    p.add_argument(
        "--force", action="store_true", help="a sweep: accept a changed search space or config"
    )
    p.add_argument(
        "--fail-fast", action="store_true", help="a sweep: the first failure cancels the rest"
    )
    project.add_arguments(p)  # trn.config.project: whose code and trust the resumed job uses
    p.set_defaults(func=run)


def split_target(args: argparse.Namespace) -> tuple[str, list[str]]:
    rest = list(args.args)
    job = rest.pop(0) if rest and "=" not in rest[0] else None
    if bool(job) == bool(args.checkpoint):
        raise UsageError(
            "give the job to resume (trn resume JOB) or --checkpoint META.meta.json, not both"
            if job
            else "nothing to resume: give a job id (see `trn list`) or --checkpoint META.meta.json"
        )
    return str(job or args.checkpoint), rest


def resume_sweep(args: argparse.Namespace, sweep_id: str, overrides: list[str]) -> int:
    """``trn resume SWEEP``: the rest of the sweep, in the foreground or detached."""
    from trn.cli import progress
    from trn.lifecycle.sweep import print_summary, run_sweep
    from trn.lifecycle.sweep_resume import ResumeOptions, plan_sweep_resume
    from trn.paths import trn_home

    if overrides:
        raise UsageError(
            f"a sweep resumes with the overrides it started with; drop {overrides[0]!r} "
            "(or start a new sweep with trn run -m)"
        )
    if args.dry_run:
        raise UsageError("--dry-run shows one job's plan; a sweep has no --dry-run")
    options = ResumeOptions(args.retry_failed, args.include_pruned, args.force)
    home = trn_home()
    if args.detach:
        from trn.cli.cmd_run import show_detached_sweep
        from trn.lifecycle.detach import submit_sweep

        info = submit_sweep([], home, fail_fast=args.fail_fast, resume=(sweep_id, options))
        return show_detached_sweep(info, args.json)
    resumed = plan_sweep_resume(home, sweep_id, options)  # every refusal before anything runs
    print(f"trn: {resumed.describe()}", file=sys.stderr)
    from trn.cli.console.follow import sweep_console

    with sweep_console(home, -2 if args.json else progress.verbosity(args)):
        result = run_sweep(
            resumed.overrides,
            home,
            as_json=args.json,
            config_dir=resumed.config_dir,
            sweep=(resumed.sweep_id, resumed.sweep_dir),
            fail_fast=args.fail_fast,
            attempt=resumed.attempt,
        )
    print_summary(result.summary, args.json)
    return result.exit_code


def run(args: argparse.Namespace) -> int:
    from trn.cli.cmd_run import detached, execute, print_plan
    from trn.lifecycle.plan import describe
    from trn.lifecycle.resume import plan_resume

    target, overrides = split_target(args)
    if not args.checkpoint:
        from trn.paths import trn_home
        from trn.registry.sweeps import job_or_sweep

        sweep_dir = job_or_sweep(trn_home(), target)
        if sweep_dir is not None:
            return resume_sweep(args, sweep_dir.name, overrides)
    sweep_only = [
        f for f in ("retry_failed", "include_pruned", "force", "fail_fast") if getattr(args, f)
    ]
    if sweep_only:
        flag = "--" + sweep_only[0].replace("_", "-")
        raise UsageError(f"{flag} is for resuming a sweep; {target} is a job")
    plan = plan_resume(target, overrides)
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    if args.detach:
        return detached(plan, args.json)
    return execute(plan, as_json=args.json)
