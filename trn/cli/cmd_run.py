"""``trn run [OVERRIDES]``: compose, validate, plan, then run one job (or print the plan)."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from trn import text as output
from trn.cli import hydra_help, progress
from trn.config import flags

EXAMPLES = """examples:
  trn run                                        the default model on the bundled dataset
  trn run profile=dev                            a seconds-long smoke run
  trn run optimizer=sgd optimizer.lr=0.05 scheduler=cosine trainer.max_epochs=30
  trn run devices=cpu devices.processes=2        DDP over gloo with 2 CPU processes
  trn run --dry-run model.hidden=[256]           print the plan, start nothing
  trn run --json profile=dev | jq .state         the final job record as JSON
  trn run --config examples/sample_train.json    a whole JSON/YAML config over the defaults
  trn run --profile prod --devices cuda:0,cuda:1 --weights init.ckpt --event-log ev.jsonl
  trn run --detach profile=dev                   print the job id, leave the job running
  trn run --cfg job optimizer=sgd                print the composed config (Hydra's --cfg)
  trn run -m --fail-fast optimizer.lr=0.1,0.01   a sweep whose first failure cancels the rest

flags and overrides mix; a flag and an override setting the same key is an error.
precedence: conf/ defaults < --config FILE < flags and overrides.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a training job (Hydra overrides: key=value, group=option)",
        description="Compose the config from conf/ with Hydra overrides, validate it, and run "
        "the job; prints its events and ends with the job's state.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra override, e.g. model=mlp optimizer.lr=1e-3 +new.key=1",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the final job record as one JSON object on stdout",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (resolved config, devices, runner command); start nothing",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="start the job in the background, print its id and return (with --json: the record)",
    )
    p.add_argument(  # sweeps: trn.launcher
        "-m",
        "--multirun",
        action="store_true",
        help="sweep: one job per combination (a=1,2 b=x,y), packed onto free devices; "
        "ends with a table sorted by `objective` (docs/sweeps.md)",
    )
    p.add_argument(
        "--fail-fast",
        action="store_true",
        help="with -m: the first failed job cancels the rest (as Ctrl-C would)",
    )
    flags.add_arguments(p)  # --config/--weights/--profile/...: shorthands for overrides
    hydra_help.add_arguments(p)
    progress.add_arguments(p)  # -v every event, -q only the final line
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.lifecycle.plan import describe
    from trn.lifecycle.planning import plan_with_flags

    given = flags.Flags.from_args(args)
    if hydra_help.wanted(args):
        return hydra_help.show(args, flags.resolve(given, args.overrides).overrides)
    if args.multirun:  # a sweep of jobs, each planned like this single run
        _warn_unsearched(given)
        return sweep(args, flags.resolve(given, args.overrides))
    if args.fail_fast:
        from trn.errors import UsageError

        raise UsageError("--fail-fast is for sweeps; add -m (trn run -m --fail-fast a=1,2)")
    plan = plan_with_flags(given, args.overrides)
    _warn_unsearched(given)  # after planning: a refusal stays one line (and names it too)
    if args.dry_run:
        return print_plan(describe(plan), args.json)
    if args.detach:
        return detached(plan, args.json)
    return execute(plan, as_json=args.json, verbosity=progress.verbosity(args))


def _warn_unsearched(given: Any) -> None:
    """A ``./conf`` that holds configs but is not searched: said before anything trains."""
    from trn.config.compose import find_project
    from trn.config.project import unsearched_hint, using

    with using(getattr(given, "config_dir", None)):
        hint = unsearched_hint(find_project())
    if hint:
        print(f"trn: warning: {hint}; trn's own configs are used", file=sys.stderr)


def sweep(args: argparse.Namespace, resolved: Any) -> int:
    """``trn run -m``: see :mod:`trn.lifecycle.sweep`."""
    from trn.errors import UsageError
    from trn.lifecycle.sweep import print_summary, run_sweep
    from trn.paths import trn_home

    if args.dry_run:
        raise UsageError("-m/--multirun has no --dry-run; `trn run --dry-run` shows one job's plan")
    if args.detach:
        home = resolved.home or trn_home()
        return detached_sweep(resolved.overrides, home, args.json, args.fail_fast)
    from trn.cli.console.follow import sweep_console

    home = resolved.home or trn_home()
    with sweep_console(home, -2 if args.json else progress.verbosity(args)):  # a live table
        result = run_sweep(resolved.overrides, home, as_json=args.json, fail_fast=args.fail_fast)
    print_summary(result.summary, args.json)
    return result.exit_code


def detached_sweep(overrides: list[str], home: Any, as_json: bool, fail_fast: bool) -> int:
    """``-m --detach``: the sweep id on stdout (``--json``: id, dir, jobs, pid), hints on stderr."""
    from trn.lifecycle.detach import submit_sweep

    return show_detached_sweep(submit_sweep(overrides, home, fail_fast=fail_fast), as_json)


def show_detached_sweep(info: dict[str, Any], as_json: bool) -> int:
    if as_json:
        output.print_json(info)
        return 0
    sweep_id = info["sweep_id"]
    print(sweep_id)
    print(
        f"trn: sweep {sweep_id} runs detached (pid {info['pid']}); jobs: trn list --sweep "
        f"{sweep_id}; follow: trn events -f --sweep {sweep_id}; stop: trn cancel {sweep_id}",
        file=sys.stderr,
    )
    return 0


def detached(plan: Any, as_json: bool) -> int:
    """``--detach``: the job id on stdout (the record with ``--json``), the next steps on stderr."""
    from trn.lifecycle.backends.local import LOCAL
    from trn.paths import trn_home

    record = LOCAL.submit(plan)
    if as_json:
        output.print_json(record.to_dict())
        return 0
    job = record.job_id
    env = "" if plan.home == trn_home() else f"TRN_HOME={plan.home} "
    print(job)
    print(
        f"trn: job {job} runs detached (supervisor pid {record.pid}); "
        f"watch: {env}trn logs -f {job}; stop: {env}trn cancel {job}",
        file=sys.stderr,
    )
    return 0


def print_plan(plan: dict[str, Any], as_json: bool) -> int:
    if as_json:
        output.print_json(plan)
        return 0
    import yaml

    sys.stdout.write(yaml.safe_dump(plan, sort_keys=False))
    return 0


def execute(plan: Any, as_json: bool, verbosity: int = 0) -> int:
    from trn.cli.progress import make_echo
    from trn.errors import UsageError
    from trn.lifecycle.supervisor import Supervisor
    from trn.registry.record import JobRecord

    # events.stdout=true: stdout carries the event lines only, people read stderr
    events_stdout = bool(plan.config.get("events", {}).get("stdout"))
    if events_stdout and as_json:
        raise UsageError("--json and events.stdout=true both write stdout; drop one of them")
    stream = sys.stderr if as_json or events_stdout else sys.stdout
    echo = make_echo(  # the live console on a terminal
        stream, sys.stdout if events_stdout else None, plan.config.get("objective"), verbosity
    )

    try:
        sup = Supervisor.create(plan, echo=echo)
        final = sup.run()
    finally:
        echo.close()
    record = JobRecord.from_dict(final)
    if as_json:
        output.print_json(final)
    else:
        from trn.paths import trn_home

        echo.finish(record, "" if plan.home == trn_home() else f"TRN_HOME={plan.home} ")
    if record.state == "cancelled" and sup.stop_signal == signal.SIGINT:
        return 130  # the user's own Ctrl-C: interrupted, as for any command
    return 0 if record.state == "completed" else 1
