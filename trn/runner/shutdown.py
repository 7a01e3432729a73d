"""Ending the runner's process without Python's teardown of torch and Lightning.

Once the runner has written its outcome and closed its events, what is left of a normal exit
is the interpreter tearing down every module it imported. With torch and Lightning loaded that
takes about a second on a small machine: as long as a short job's whole training, paid by
every job of a sweep and by the supervisor waiting to report the end. :func:`exit_process`
does what that exit does for the program (joins its threads, runs its ``atexit`` handlers,
flushes every open file) and then leaves at once.
"""

from __future__ import annotations

import atexit
import gc
import io
import os
import sys
import threading

# the file types that hold written data in memory (concrete types: an ``io.IOBase`` check goes
# through the ABC machinery for each of the process's few hundred thousand objects)
BUFFERED = (io.BufferedWriter, io.BufferedRandom, io.TextIOWrapper)


def exit_process(code: int) -> None:
    """Exit with ``code`` as Python would, less the module teardown."""
    # as Python's own exit does first: wait for the program's non-daemon threads
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # loggers, multiprocessing's workers, the user's own handlers
    # A file the user's code wrote to and never closed is flushed as teardown collects it;
    # flush each here instead (a garbage one not yet collected is still listed).
    for obj in gc.get_objects():
        if isinstance(obj, BUFFERED):
            try:
                if not obj.closed and obj.writable():
                    obj.flush()
            except (OSError, ValueError):
                continue
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            continue
    os._exit(code)
