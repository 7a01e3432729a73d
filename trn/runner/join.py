"""Waiting for the other ranks to join: a job whose peers never come ends ``failed``, naming them.

A DDP job's ranks meet in ``torch.distributed``'s rendezvous, which blocks in C++ for as long as
its timeout (Lightning's default: 30 minutes) and runs no Python signal handler meanwhile: a
rank whose peer never starts (a node gone, a task that died) would wait half an hour, deaf to
a cancel. So while a rank waits there, a thread of its own watches the clock and the signals
(through :func:`signal.set_wakeup_fd`, written by the C-level handler even while the main thread
is blocked). After ``devices.join_timeout_s`` it ends the runner, rank 0 leaving the outcome
``failed`` with the ranks that never reached the rendezvous (each rank marks its arrival in the
job dir); a stop signal ends it at once, ``cancelled`` or ``preempted`` as the signal says.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from trn import fsutil
from trn.handoff import Outcome
from trn.jobdir import JobDir

JOIN_TIMEOUT_S = 300.0  # devices.join_timeout_s when the config does not say
STOPS = {signal.SIGINT: "cancelled", signal.SIGTERM: "preempted", signal.SIGUSR1: "preempted"}


class JoinWatch(pl.Callback):
    """From :meth:`start` (just before ``trainer.fit``) to :meth:`joined` (the process group is
    up: the Trainer calls its callbacks' ``setup`` after that), on a job of ``world`` ranks."""

    def __init__(self, job_dir: Path, rank: int, world: int, timeout_s: float):
        self.job_dir, self.rank, self.world, self.timeout_s = (
            JobDir(job_dir),
            rank,
            world,
            timeout_s,
        )
        self.done = threading.Event()
        self._pipe: tuple[int, int] | None = None
        self._old_fd = -1
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.world <= 1:
            return
        marks = self.job_dir.ranks
        marks.mkdir(exist_ok=True)
        fsutil.atomic_write_bytes(marks / str(self.rank), socket.gethostname().encode())
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._old_fd = signal.set_wakeup_fd(write)
        self._thread = threading.Thread(target=self._watch, name="trn-join-watch", daemon=True)
        self._thread.start()

    def joined(self) -> None:
        """Every rank is in: the watch ends (called on the main thread)."""
        if self._pipe is None or self.done.is_set():
            return
        self.done.set()
        signal.set_wakeup_fd(self._old_fd)
        os.write(self._pipe[1], b"\0")  # wakes the watch, which closes the pipe
        # and is gone before this returns: the data loaders fork their workers next, and a
        # thread ending while a process forks can leave the child locked for good
        if self._thread is not None:
            self._thread.join()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.joined()

    def _watch(self) -> None:
        assert self._pipe is not None
        read, write = self._pipe
        deadline = time.monotonic() + self.timeout_s
        while not self.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                self._end("failed", error=self._missing())
            ready, _, _ = select.select([read], [], [], left)
            for signum in os.read(read, 64) if ready else b"":
                if signum in STOPS and not self.done.is_set():
                    name = signal.Signals(signum).name
                    self._end(
                        STOPS[signal.Signals(signum)],
                        reason=f"received {name} while the ranks were joining",
                    )
        os.close(read)
        os.close(write)

    def _missing(self) -> str:
        arrived = (
            {p.name for p in self.job_dir.ranks.iterdir()} if self.job_dir.ranks.exists() else set()
        )
        missing = [r for r in range(self.world) if str(r) not in arrived]
        waited = f"within {self.timeout_s:g}s (devices.join_timeout_s)"
        if missing:
            which = ", ".join(map(str, missing))
            return (
                f"rank{'s' if len(missing) > 1 else ''} {which} of {self.world} never joined "
                f"{waited}: their runners never started or died first (see their runner.rankN.log)"
            )
        return (
            f"every rank started but they could not connect {waited}: "
            f"is MASTER_ADDR={os.environ.get('MASTER_ADDR', '?')} reachable from every node?"
        )

    def _end(self, state: str, **why: Any) -> None:
        """End this runner now: the main thread is blocked in the rendezvous for good."""
        if self.rank == 0:
            outcome = Outcome(state, step=0, **why)
            fsutil.atomic_write_bytes(self.job_dir.outcome, outcome.to_json().encode())
        print(f"trn: {why.get('error') or why.get('reason')}", flush=True)
        os._exit(1)


def name_peers(error: str) -> str:
    """``error`` with each peer address in it named by its host (``[10.0.0.2 (node2)]:port``):
    a rank's node gone shows in rank 0's error only as the address gloo lost."""

    def named(match: re.Match[str]) -> str:
        try:
            host = socket.gethostbyaddr(match.group(1))[0]
        except OSError:
            return match.group(0)
        return f"[{match.group(1)} ({host})]"

    return re.sub(r"\[(\d{1,3}(?:\.\d{1,3}){3})\]", named, error)


def timeout_of(config: dict[str, Any]) -> float:
    return float((config.get("devices") or {}).get("join_timeout_s") or JOIN_TIMEOUT_S)
