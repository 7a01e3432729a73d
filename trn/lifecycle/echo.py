"""The supervisor's echo on a thread of its own: a console never holds up a job.

The supervisor shows each event through its caller's ``echo`` (the live console, plain lines, a
sweep's numbered lines). Called inline, a console that does not take the lines stops the job's
bookkeeping: writing to a pipe nobody reads blocks once it is full (no record updates, no
forwarded Ctrl-C, and the job looks lost), and a reader that went away (``trn run | head``)
raises BrokenPipeError out of the supervisor and orphans its runner. Here the events queue up
for a thread that shows them. When the queue is full the new ones are counted and not shown (the
job's events file has them all); a console that failed is shown nothing more.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

QUEUE = 10_000  # events waiting to be shown; past this they are dropped, not waited for
DRAIN_S = 10.0  # at the job's end, how long to wait for the console to take what is queued

_STOP = object()


class Echo:
    def __init__(self, show: Callable[[dict[str, Any]], None], limit: int = QUEUE):
        self.show = show
        self.queue: queue.Queue[Any] = queue.Queue(limit)
        self.dropped = 0
        self.failed = self.closed = False
        self.thread = threading.Thread(target=self._run, name="trn-echo", daemon=True)
        self.thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.failed:
            return
        if self.closed:  # the thread is done: what comes after the end is shown here
            self._show(event)
            return
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = DRAIN_S) -> None:
        """Show what is queued (waiting up to ``timeout``), then stop the thread."""
        if self.closed:
            return
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(timeout)
        self.closed = not self.thread.is_alive()

    def _run(self) -> None:
        while (event := self.queue.get()) is not _STOP:
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                message = f"{dropped} events not shown: the output was not read as fast"
                self._show({"event": "warning", "message": message, "source": "cli"})
            self._show(event)

    def _show(self, event: dict[str, Any]) -> None:
        if self.failed:
            return
        try:
            self.show(event)
        except (OSError, ValueError):  # a closed pipe or stream: the job goes on unseen
            self.failed = True
            _silence_broken_streams()
        except Exception as err:  # noqa: BLE001 - a console's fault never ends a job
            self.failed = True
            print(f"trn: the console stopped ({type(err).__name__}: {err})", file=sys.stderr)


def _silence_broken_streams() -> None:
    """Point stdout/stderr at /dev/null where they can no longer be written, so neither a later
    print nor Python's flush at exit raises (or reports) BrokenPipeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                continue
