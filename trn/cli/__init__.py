"""The ``trn`` command line: one small module per verb (``cmd_*.py``), each with
``add_parser(subparsers)`` and ``run(args) -> int``. Modules import nothing heavy at import time:
read commands must start without torch or lightning."""
