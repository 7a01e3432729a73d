"""The ``trn`` command line: one small module per verb (``cmd_*.py``), each with
``add_parser(subparsers)`` and ``run(args) -> int``. Modules import nothing heavy at import time:
read commands must start without torch or lightning.

:func:`program` is the console script and ``python -m trn``. It lives here, above every import of
the command line, so that a Ctrl-C at any moment after the interpreter started (while the verbs
load, while Hydra composes, while numpy half-imports) ends the program with one line and status
130, never a traceback.
"""

from __future__ import annotations

import signal
import sys

_interrupted = False


def interrupted() -> bool:
    """Did a Ctrl-C reach this program? A library may turn the KeyboardInterrupt it raised into
    another error (an import that broke half way); the program still reports an interrupt."""
    return _interrupted


def _on_sigint(signum: int, frame: object) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def program() -> None:
    """Run the command of ``sys.argv`` and exit with its status."""
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        from trn.cli.main import main
    except KeyboardInterrupt:
        print("trn: interrupted", file=sys.stderr)
        sys.exit(130)
    code = main()
    # The command is over and its status decided. A Ctrl-C from here on (the second of a
    # cancelled sweep, say) would otherwise land in the interpreter's exit, where Python has put
    # SIGINT back to its default and the process dies of it: -2 for an exit that was 130 or 0.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
