"""Entry point of the ``trn`` program: :func:`program` for the console script and ``python -m
trn``, :func:`main` (``argv`` in, exit status out) for tests and embedders."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from trn.errors import TrnError

# verb -> module under trn.cli; order is the order of `trn --help`
COMMANDS = {
    "run": "cmd_run",
    "list": "cmd_list",
    "status": "cmd_status",
    "resume": "cmd_resume",
    "eval": "cmd_eval",
    "rerun": "cmd_rerun",
    "cancel": "cmd_cancel",
    "reindex": "cmd_reindex",
    "gc": "cmd_gc",
    "diff": "cmd_diff",
    "best": "cmd_best",
    "logs": "cmd_logs",
    "events": "cmd_events",
    "plot": "cmd_plot",
    "data": "cmd_data",
    "doctor": "cmd_doctor",
    "completion": "cmd_completion",
    "init": "cmd_init",
    "config": "cmd_config",
    "serve": "cmd_serve",
    "warm": "cmd_warm",
}

EPILOG = """examples:
  trn run                                   train the default model on the bundled dataset
  trn run model=mlp optimizer=sgd optimizer.lr=0.05 profile=dev
  trn run --dry-run                         print the plan, start nothing
  trn list --state completed                recent jobs
  trn status 261128-1520                    one job, by a unique prefix of its id
  trn run --config examples/sample_train.json --profile dev --devices cpu
  trn run --detach profile=dev              start in the background, print the job id
  trn gc --older-than 30d --yes             delete old failed/cancelled/lost jobs
  trn completion bash >> ~/.bashrc          tab-complete commands, overrides and job ids

`trn COMMAND --help` lists a command's flags; docs/cli.md tours them, docs/api.md drives trn
from Python (import trn; trn.submit([...])).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trn",
        description="Hydra-configured training jobs: run, sweep, watch and resume.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from trn import __version__

    parser.add_argument("--version", action="version", version=f"trn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(f"trn.cli.{module}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from trn.config.project import from_args

    try:
        with from_args(args):  # -cd/--config-dir: the project every composer of this command uses
            return int(args.func(args) or 0)
    except TrnError as err:
        print(f"trn {args.command}: error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print(f"trn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `trn list | head`
        return 0
    except OSError as err:  # a file or directory of the user's machine: say which, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"trn {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


def program() -> None:
    """Run the command of ``sys.argv`` and exit with its status."""
    code = main()
    # The command is over and its status decided. A Ctrl-C from here on (the second of a
    # cancelled sweep, say) would otherwise land in the interpreter's exit, where Python has put
    # SIGINT back to its default and the process dies of it: -2 for an exit that was 130 or 0.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    program()
