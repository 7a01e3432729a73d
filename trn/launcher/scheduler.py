"""The scheduler: run work items (a sweep's jobs) as fresh processes on free slots of the pool,
the next the moment one frees.

Items needing more slots start first (they are the hard ones to pack); a job that does not fit
now lets smaller ones behind it start. One waiter thread per process reports its exit, so a
freed slot is reused within milliseconds. SIGINT/SIGTERM cancel: nothing new starts, every
running job gets ``cancel_signal`` (its process group), ``grace_s`` later SIGKILL; a second
signal kills at once. Slots are given back on every path.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trn.launcher.pool import Assignment, Pool, Slot
from trn.proc import killpg

RETRY_S = 1.0  # when another process holds a GPU we want, look again this often


@dataclass
class WorkItem:
    """One queued unit of work: a command to run as a fresh process on ``need`` free slots."""

    index: int
    argv: list[str]
    need: int = 1
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    log: Path | None = None  # stdout+stderr go here (None: inherit ours)
    on_exit: Callable[[int | None, bool], None] | None = None  # (rc, cancelled), once it ended


@dataclass
class Outcome:
    """How one work item went: when and where it ran, and its exit status."""

    index: int
    rc: int | None = None  # None: never started
    started: float | None = None
    ended: float | None = None
    slots: list[int] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    cancelled: bool = False
    pid: int | None = None
    gap_s: float | None = None  # from its slots freeing (or the sweep start) to its start


# what runs now, by work item index: the item, its process, the slots it holds
Running = dict[int, tuple[WorkItem, "subprocess.Popen[bytes]", list[Slot]]]


class Scheduler:
    def __init__(
        self,
        pool: Pool,
        *,
        max_parallel: int | None = None,
        stagger_s: float = 0.0,
        grace_s: float = 60.0,
        cancel_signal: int = signal.SIGINT,
        on_event: Callable[[str, WorkItem, Outcome], None] | None = None,
    ):
        self.pool = pool
        self.max_parallel = max_parallel or len(pool.slots)
        self.stagger_s = stagger_s
        self.grace_s = grace_s
        self.cancel_signal = cancel_signal
        self.on_event = on_event or (lambda what, job, out: None)
        self.free: list[Slot] = list(pool.slots)
        self.freed_at = {s.index: time.monotonic() for s in pool.slots}
        self.done: queue.Queue[tuple[int, int, float] | None] = queue.Queue()
        self.stops = 0
        self.interrupted = False

    # -- public -----------------------------------------------------------------------------
    def run(self, jobs: list[WorkItem]) -> list[Outcome]:
        for job in jobs:
            if job.need > len(self.pool.slots):
                raise ValueError(
                    f"job {job.index} needs {job.need} slots; the pool has {len(self.pool.slots)}"
                )
        outcomes = {j.index: Outcome(j.index) for j in jobs}
        pending = sorted(jobs, key=lambda j: -j.need)  # stable: sweep order within a size
        running: Running = {}
        old = self._install_handlers()
        try:
            self._loop(pending, running, outcomes)
        finally:
            self._restore_handlers(old)
            for job, proc, chosen in list(running.values()):  # only on an unexpected error
                killpg(proc.pid, signal.SIGKILL)
                self._release(chosen)
        return [outcomes[j.index] for j in jobs]

    # -- the loop ---------------------------------------------------------------------------
    def _loop(
        self, pending: list[WorkItem], running: Running, outcomes: dict[int, Outcome]
    ) -> None:
        last_start, kill_at = 0.0, None
        while pending or running:
            wait = 0.5
            if self.stops:
                for job in pending:
                    outcomes[job.index].cancelled = True
                pending.clear()
                kill_at = self._cancel(running, kill_at)
            else:
                delay = last_start + self.stagger_s - time.monotonic()
                if delay <= 0:
                    started = self._start_next(pending, running, outcomes)
                    if started:
                        last_start = time.monotonic()
                        continue
                    wait = RETRY_S if pending and self._fits_somewhere(pending) else 0.5
                else:
                    wait = delay
            try:
                item = self.done.get(timeout=max(0.001, wait))
            except queue.Empty:
                continue
            while item is not None:
                self._finish(item, running, outcomes)
                try:
                    item = self.done.get_nowait()
                except queue.Empty:
                    item = None

    def _start_next(
        self, pending: list[WorkItem], running: Running, outcomes: dict[int, Outcome]
    ) -> bool:
        if len(running) >= self.max_parallel:
            return False
        for job in pending:
            chosen = self._choose(job.need)
            if chosen is None:
                continue
            pending.remove(job)
            self._spawn(job, chosen, running, outcomes[job.index])
            return True
        return False

    def _choose(self, need: int) -> list[Slot] | None:
        """The lowest-numbered free slots that no other process holds, taken; None if none."""
        if need > len(self.free):
            return None
        candidates = sorted(self.free, key=lambda s: s.index)
        for start in range(len(candidates) - need + 1):
            chosen = candidates[start : start + need]
            if self.pool.take(chosen):
                for s in chosen:
                    self.free.remove(s)
                return chosen
        return None

    def _fits_somewhere(self, pending: list[WorkItem]) -> bool:
        return any(j.need <= len(self.free) for j in pending)

    def _spawn(self, job: WorkItem, chosen: list[Slot], running: Running, out: Outcome) -> None:
        assignment: Assignment = self.pool.assignment(chosen)
        env = {**os.environ, **assignment.env(), **job.env}
        log = open(job.log, "ab") if job.log else None
        try:
            proc = subprocess.Popen(
                job.argv,
                env=env,
                cwd=job.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,  # our signals reach it only when we forward them
            )
        except OSError:
            self._release(chosen)
            raise
        finally:
            if log:
                log.close()
        if assignment.cpus:
            _set_affinity(proc.pid, assignment.cpus)
        now = time.monotonic()
        out.started, out.pid = now, proc.pid
        out.slots, out.devices = [s.index for s in chosen], assignment.gpus or ["cpu"]
        out.gap_s = now - max(self.freed_at[s.index] for s in chosen)
        running[job.index] = (job, proc, chosen)
        threading.Thread(target=self._wait, args=(job.index, proc), daemon=True).start()
        self.on_event("started", job, out)

    def _wait(self, index: int, proc: subprocess.Popen[bytes]) -> None:
        rc = proc.wait()
        self.done.put((index, rc, time.monotonic()))

    def _finish(
        self, item: tuple[int, int, float], running: Running, outcomes: dict[int, Outcome]
    ) -> None:
        index, rc, ended = item
        job, proc, chosen = running.pop(index)
        killpg(proc.pid, signal.SIGKILL)  # anything it left behind in its group
        out = outcomes[index]
        out.rc, out.ended = rc, ended
        out.cancelled = out.cancelled or self.stops > 0
        for s in chosen:
            self.freed_at[s.index] = ended
        self._release(chosen)
        if job.on_exit:
            job.on_exit(rc, out.cancelled)
        self.on_event("ended", job, out)

    def _release(self, chosen: list[Slot]) -> None:
        self.pool.give_back(chosen)
        self.free.extend(s for s in chosen if s not in self.free)

    # -- cancelling -------------------------------------------------------------------------
    def _cancel(self, running: Running, kill_at: float | None) -> float:
        now = time.monotonic()
        if kill_at is None:  # first time here: ask every job to stop
            for _, proc, _ in running.values():
                killpg(proc.pid, self.cancel_signal)
            kill_at = now + self.grace_s
        if self.stops > 1 or now >= kill_at:
            for _, proc, _ in running.values():
                killpg(proc.pid, signal.SIGKILL)
        return kill_at

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stops += 1
        self.interrupted = True
        self.done.put(None)

    def stop(self) -> None:
        """Cancel from inside (``--fail-fast``): exactly one Ctrl-C, so jobs save first."""
        if not self.stops:
            self._on_signal(signal.SIGINT, None)

    def _install_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_handlers(old: dict[int, Any]) -> None:
        for s, handler in old.items():
            signal.signal(s, handler)


def _set_affinity(pid: int, cpus: list[int]) -> None:
    try:
        os.sched_setaffinity(pid, cpus)
    except (AttributeError, OSError):  # not Linux, or it already exited
        pass
