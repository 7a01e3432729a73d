"""The ``trn`` program's verbs: :func:`main` (``argv`` in, exit status out) for tests and
embedders; :func:`trn.cli.program` is the console script and ``python -m trn``."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import NoReturn

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


class Parser(argparse.ArgumentParser):
    """argparse, with its errors one line that names the nearest known choice or flag (every
    verb's parser is one of these: subparsers take their parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_suggest(self, message)}; see `{self.prog} --help`\n")


def _suggest(parser: argparse.ArgumentParser, message: str) -> str:
    from trn.text import did_you_mean

    choice = re.match(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", message)
    if choice:
        what, word, listed = choice.groups()
        known = re.findall(r"'([^']*)'", listed)
        hint = did_you_mean(word, known, "")
        if what == "COMMAND":
            return f"unknown command {word!r}{hint}"
        return f"{what}: {word!r} is not one of {', '.join(known)}{hint}"
    unknown = re.match(r"unrecognized arguments: (.*)$", message)
    if unknown:
        flags = [a for a in parser._option_string_actions if a.startswith("--")]
        words = unknown.group(1).split()
        hints = "".join(did_you_mean(w.split("=")[0], flags) for w in words if w.startswith("-"))
        return f"{message}{hints}"
    return message


def _verb_parser(parser: argparse.ArgumentParser, verb: str | None) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        if isinstance(action, argparse._SubParsersAction) and verb in action.choices:
            return action.choices[verb]
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    command = "trn"
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # said by the verb's parser, which knows the flags the user meant
            _verb_parser(parser, getattr(args, "command", None)).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        command = f"trn {args.command}"
        from trn.config.project import from_args

        with from_args(args):  # -cd/--config-dir: the project every composer of this command uses
            return int(args.func(args) or 0)
    except BaseException as err:
        return _failed(command, err)


def _failed(command: str, err: BaseException) -> int:
    """The exit status for ``err``, and its one line; a bug's traceback is re-raised."""
    from trn.cli import interrupted

    if isinstance(err, KeyboardInterrupt) or interrupted():
        # also what a library made of our Ctrl-C (an import broken half way, an empty error)
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    if isinstance(err, TrnError):
        print(f"{command}: error: {err}", file=sys.stderr)
        return err.code
    if isinstance(err, BrokenPipeError):  # `trn list | head`
        return 0
    if isinstance(err, OSError):  # a file or directory of the user's machine: say which
        where = f"{err.filename}: " if err.filename else ""
        print(f"{command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    raise err


def program() -> None:
    """The console script as it was named before ``trn.cli.program``: the same program."""
    from trn.cli import program as run

    run()


if __name__ == "__main__":
    program()
