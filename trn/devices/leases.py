"""Leases between trn processes on one machine: files under ``$TRN_HOME/leases/``.

One lock file (``fcntl.flock``) serialises every read-decide-write; each leased GPU has a JSON
file naming its holder (pid, pid start time, host, job id). A lease whose process is gone (or
whose pid now belongs to another process) is reclaimed by the next trn that looks, so a
supervisor killed with SIGKILL never keeps a GPU.

CPU jobs lease no CPU exclusively (the CPU is shared), but say how many threads they compute
with on which CPUs (key ``cpu:JOB``), so the next job counts only the cores left to it
(:mod:`trn.devices.threads`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trn import fsutil, proc
from trn.jobdir import HomeDir
from trn.paths import make_dirs
from trn.registry.record import utc_now

HOST = socket.gethostname()
CPU_KEY = "cpu:"  # the key of a CPU job's thread lease; GPU leases are keyed by UUID


def alive(lease: dict[str, Any]) -> bool:
    if lease.get("host") != HOST:
        return True  # another node's process: only that node can tell
    return proc.alive(int(lease.get("pid") or 0), lease.get("pid_start"))


@dataclass
class Lease:
    """GPUs held by this process until :meth:`release` (or until this process dies)."""

    store: LeaseStore
    uuids: list[str] = field(default_factory=list)

    def release(self) -> None:
        if self.uuids:
            self.store.release(self.uuids)
            self.uuids = []


class LeaseStore:
    def __init__(self, home: Path):
        self.dir = HomeDir(home).leases

    @contextmanager
    def locked(self) -> Iterator[LeaseStore]:
        """Hold the machine-wide lease lock (every read-decide-write happens inside)."""
        make_dirs(self.dir, self.dir.parent)
        with open(self.dir / "lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def path(self, uuid: str) -> Path:
        return self.dir / (re.sub(r"[^A-Za-z0-9._-]", "_", uuid) + ".json")

    def read(self, reclaim: bool = True) -> dict[str, dict[str, Any]]:
        """Live leases by UUID; dead holders' files are removed when ``reclaim`` (under lock)."""
        out = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                lease = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a torn write of a killed holder: its lock was released, so stale
            if alive(lease):
                out[lease["uuid"]] = lease
            elif reclaim:
                path.unlink(missing_ok=True)
        return out

    def reclaim(self) -> None:
        """Remove the leases of holders that are gone (a supervisor killed outright)."""
        if self.dir.is_dir():
            with self.locked():
                self.read(reclaim=True)

    def holders(self) -> dict[str, str]:
        """UUID -> "job X (pid N)", what the allocator needs to say why a GPU is taken."""
        return {u: describe(x) for u, x in self.read().items() if not u.startswith(CPU_KEY)}

    def take(self, uuids: list[str], job_id: str | None) -> Lease:
        """Write a lease for each GPU; call inside :meth:`locked`, after checking they are free."""
        for uuid in uuids:
            self._write(uuid, job_id)
        return Lease(self, list(uuids))

    def take_threads(self, job_id: str | None, cpus: list[int], threads: int) -> Lease:
        """Say that this process's job computes with ``threads`` threads on ``cpus``; call
        inside :meth:`locked`, after counting :meth:`held_threads`."""
        key = f"{CPU_KEY}{job_id or os.getpid()}"
        self._write(key, job_id, cpus=sorted(cpus), threads=threads)
        return Lease(self, [key])

    def held_threads(self, cpus: list[int]) -> int:
        """Threads other live trn jobs compute with on ``cpus`` (a job pinned elsewhere holds
        none of them; one spread over more CPUs holds at most as many as it shares)."""
        mine, held = set(cpus), 0
        for key, lease in self.read().items():
            if key.startswith(CPU_KEY) and lease.get("pid") != os.getpid():
                shared = mine & set(lease.get("cpus") or ())
                held += min(int(lease.get("threads") or 0), len(shared))
        return held

    def _write(self, key: str, job_id: str | None, **extra: Any) -> None:
        pid = os.getpid()
        record = {
            "uuid": key,
            "pid": pid,
            "pid_start": proc.start_time(pid),
            "host": HOST,
            "job_id": job_id,
            "created_at": utc_now(),
            **extra,
        }
        fsutil.atomic_write_json(self.path(key), record)

    def release(self, uuids: list[str]) -> None:
        with self.locked():
            for uuid in uuids:
                path = self.path(uuid)
                try:
                    mine = json.loads(path.read_text()).get("pid") == os.getpid()
                except (OSError, ValueError):
                    continue
                if mine:
                    path.unlink(missing_ok=True)


def describe(lease: dict[str, Any]) -> str:
    job = lease.get("job_id") or "a trn process"
    where = f"pid {lease.get('pid')}" + (
        "" if lease.get("host") == HOST else f"@{lease.get('host')}"
    )
    return f"job {job} ({where})" if lease.get("job_id") else f"{job} ({where})"
