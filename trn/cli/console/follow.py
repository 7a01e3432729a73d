"""``trn run -m`` in a terminal draws its jobs from the event stream, not from its children's
stdout: while the sweep runs, file descriptor 1 (inherited by every job process) goes to
/dev/null and 2 to a temporary file, a thread follows ``$TRN_HOME/events.jsonl`` for this
sweep's events, and the live table draws on the terminal. Afterwards both are the terminal
again: what went to stderr meanwhile (a failed job's traceback) is printed, then the summary."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trn.jobdir import HomeDir
from trn.text import isatty


@contextmanager
def sweep_console(home: Path, verbosity: int) -> Iterator[None]:
    """-2 (``--json``) or 1 (``-v``): the job lines as before; 0: the live table; -1 (``-q``):
    nothing until the summary. Not a terminal: the job lines as before."""
    if verbosity not in (0, -1) or not isatty(sys.stdout):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved, saved_err = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    errors = tempfile.TemporaryFile()
    os.dup2(errors.fileno(), 2)
    follower = None
    try:
        if verbosity == 0:
            follower = Follower(HomeDir(home).events, os.fdopen(os.dup(saved), "w"))
            follower.start()
        yield
    finally:
        if follower is not None:
            follower.stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.dup2(saved_err, 2)
        os.close(saved)
        os.close(saved_err)
        errors.seek(0)
        sys.stderr.write(errors.read().decode("utf-8", errors="replace"))
        sys.stderr.flush()
        errors.close()


class Follower:
    """Reads the global stream from where it ends now and feeds this sweep's events to the
    live table until stopped."""

    def __init__(self, path: Path, tty: Any):
        from trn.cli.console.sweep_state import SweepState
        from trn.cli.console.sweep_view import SweepView

        self.path, self.tty = path, tty
        try:
            self.offset = path.stat().st_size
        except OSError:
            self.offset = 0
        self.state = SweepState(pid=os.getpid())
        size = shutil.get_terminal_size((100, 30))
        try:
            size = os.get_terminal_size(tty.fileno())
        except OSError:
            pass
        self.view = SweepView(tty, self.state, size.columns, size.lines)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="trn-sweep-view", daemon=True)

    def start(self) -> None:
        self.view.start()
        self.thread.start()

    def _read(self) -> bool:
        from trn.events.reader import parse, read_new

        lines, self.offset = read_new(self.path, self.offset)
        for line in lines:
            event = parse(line)
            if event is not None:
                self.state.update(event)
        return bool(lines)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self._read():
                    self.stopping.wait(0.25)
            except Exception:  # noqa: BLE001 - a view that cannot read must not end the sweep
                self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        try:
            self._read()
        except Exception:  # noqa: BLE001
            pass
        self.view.stop()
        self.tty.close()
