"""Processes by pid: is one still there (:func:`alive`), and a signal to its group (:func:`killpg`);
signals received, for a while, by a function of ours (:func:`catching`).

A pid alone is a weak name. A process that exited but was never reaped (a zombie: orphans stay
so where PID 1 does not reap, as in containers without an init) still answers ``kill(pid, 0)``;
and a pid is reused once its process is gone, so a record of a long-dead process may name a
live stranger. :func:`alive` counts a zombie dead, and, given the start time the pid had when it
was recorded (:func:`start_time`), a process that started at another time dead too.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None without
    one (gone, or no ``/proc``: macOS)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, as ``/proc`` says); None if unknown. Kept
    beside a pid, it tells the process from a later one given the same pid."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def alive(pid: int | None, started: str | None = None) -> bool:
    """Whether ``pid`` is a running process (a zombie is not) and, given ``started`` (its
    :func:`start_time` when recorded), still the same process. Another user's process counts:
    it exists. Without ``/proc`` only ``kill(pid, 0)`` can tell."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc: trust kill(0)
    if fields[:1] in (["Z"], ["X"]):
        return False
    return started is None or start_time(pid) in (None, started)


def killpg(pid: int, sig: int) -> None:
    """``sig`` to the process group ``pid`` leads, if it is still there (and ours to signal)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def catching(signums: Iterable[int], on_signal: Callable[[int], None]) -> Iterator[None]:
    """While in effect, each of ``signums`` calls ``on_signal(signum)`` (and does nothing else:
    a job's process asked to stop decides itself what stopping means); the old handlers come
    back after. Every process that hosts a job catches its signals through this one function.
    Only the main thread can set handlers; on another one this does nothing, and whoever owns
    the main thread owns the signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, lambda signum, frame: on_signal(signum)) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
