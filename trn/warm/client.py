"""Asking a warm parent for a runner, starting one first when there is none.

No torch here: this runs in ``trn run`` and in the supervisor before any job starts. A parent
starts under two locks: its place's (one starter per place) and the runtime dir's (one start at
a time for the user, so that ``TRN_WARM_MAX`` holds: :func:`trn.warm.parents.make_room`).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir
from trn.warm import protocol
from trn.warm.parents import make_room
from trn.warm.where import (
    START_TIMEOUT_S,
    Place,
    WarmUnavailable,
    idle_s,
    import_env,
    max_parents,
    runtime_dir,
)

# not the parent's business: the job's own values travel in each spawn request
_PARENT_ENV_DROP = ("TRN_JOB_ID", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


class WarmRunner:
    """A runner a warm parent forked, as the supervisor waits on it: like a ``Popen``.

    The exit status comes over the spawn's connection. If the parent dies first, the runner runs
    on (its own session); its end is then seen through a pidfd, and its exit status, which only
    a parent can collect, is taken from ``outcome.json``, with :attr:`note` saying so."""

    def __init__(self, conn: socket.socket, pid: int, job_dir: Path, early: bytes = b""):
        self.conn, self.pid, self.job_dir = conn, pid, job_dir
        self.returncode: int | None = None
        self.note: str | None = None
        self._buffer = early  # what came with the spawn's reply (a runner that ended at once)
        self._pidfd: int | None = None

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it still runs after ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        if self.note is None:
            self._read(timeout)
        else:
            self._watch(timeout)
        return self.returncode

    def _read(self, timeout: float) -> None:
        data = b"-"
        if b"\n" not in self._buffer:
            if not select.select([self.conn], [], [], timeout)[0]:
                return
            try:
                data = self.conn.recv(4096)
            except OSError:
                data = b""
            self._buffer += data
        if b"\n" in self._buffer:
            message = json.loads(self._buffer.partition(b"\n")[0])
            self.returncode = int(message["exit"])
            self.conn.close()
        elif not data:
            self.conn.close()
            self.note = "the warm parent exited while the job ran; its exit status is unknown"
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except OSError:  # gone already, or no pidfds: poll the pid instead
                self._pidfd = None

    def _watch(self, timeout: float) -> None:
        if self._pidfd is not None:
            done = bool(select.select([self._pidfd], [], [], timeout)[0])
        else:
            from trn import proc

            done = not proc.alive(self.pid)
            if not done:
                time.sleep(timeout)
        if done:
            if self._pidfd is not None:
                os.close(self._pidfd)
            outcome = JobDir(self.job_dir).read_outcome()
            state = outcome.state if outcome else None
            self.returncode = 0 if state == "completed" else 1


def spawn(place: Place, request: dict[str, Any]) -> WarmRunner:
    """Fork a runner for ``request`` (see :func:`trn.warm.protocol.check_spawn`), starting a
    parent if none listens, and a fresh one if the one listening is stale."""
    for attempt in (1, 2):
        conn = connect(place, start=True, env=request["env"])
        reply = protocol.ask(conn, {"op": "spawn", **request})
        if reply.get("ok"):
            early = reply.pop("_rest", b"")
            return WarmRunner(conn, int(reply["pid"]), Path(request["job_dir"]), early)
        conn.close()
        error = str(reply.get("error"))
        if not error.startswith("stale") or attempt == 2:
            raise WarmUnavailable(f"the warm parent refused: {error}")
    raise AssertionError("unreachable")


def connect(place: Place, start: bool, env: Mapping[str, str] | None = None) -> socket.socket:
    """A connection to ``place``'s parent; with ``start``, one is started first if none listens,
    its import-time variables those of ``env`` (a job's; default this process's)."""
    try:
        return protocol.connect(place.socket)
    except OSError:
        if not start:
            raise WarmUnavailable("no warm parent is running") from None
    limit = max_parents()  # bad settings are said before anything is made
    idle_s()
    try:
        place.log.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WarmUnavailable(f"cannot start a warm parent: {err}") from None
    # One starter per place: the others wait on the lock, then find its socket.
    with _locked(place.lock):
        try:
            return protocol.connect(place.socket)
        except OSError:
            pass
        with _locked(runtime_dir() / "start.lock"):
            make_room(limit)
            return _start(place, os.environ if env is None else env)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise WarmUnavailable(f"cannot start a warm parent: {err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _start(place: Place, job_env: Mapping[str, str]) -> socket.socket:
    env = {k: v for k, v in os.environ.items() if k not in _PARENT_ENV_DROP}
    env.update(import_env(job_env))  # what place's key was made from
    env["OPENBLAS_NUM_THREADS"] = "1"  # NumPy's BLAS would start its threads at import
    with open(place.log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trn.warm.parent", str(place.socket), str(place.home)],
            cwd="/",  # nothing of the starter's directory on the parent's sys.path
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the starter's terminal: no Ctrl-C reaches it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return protocol.connect(place.socket)
        except OSError:
            pass
        rc = proc.poll()
        if rc is not None:
            raise WarmUnavailable(
                f"the warm parent exited with {rc} while starting; see {place.log}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise WarmUnavailable(f"the warm parent took over {START_TIMEOUT_S:.0f} s to start")
        time.sleep(0.05)
