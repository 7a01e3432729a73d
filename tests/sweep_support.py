"""Helpers of the sweep resume and early-stopping tests: a sweep started as a real process, killed
as a machine crash would (every process of it, SIGKILL), and waits on its records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import ROOT, wait_until

from trn.registry.record import view
from trn.registry.store import Registry


def start_sweep(trn_home: Path, *argv: str) -> subprocess.Popen:
    """``trn run -m ARGV`` in a session of its own (what a terminal would hold)."""
    return subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "-m", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TRN_HOME": str(trn_home)},
    )


def wait_for(predicate: Callable[[], Any], what: str = "it") -> Any:
    """conftest's :func:`wait_until` (one generous ceiling), every 0.3 s: each poll reads the
    registry."""
    return wait_until(predicate, what, every=0.3)


def sweep_records(trn_home: Path) -> list[dict]:
    """Every job as ``trn list --json`` shows it (``lost`` where it is), newest first."""
    if not (trn_home / "runs").exists():
        return []
    return [view(r).to_dict() for r in Registry(trn_home).list(limit=None)]


def sweep_dir(trn_home: Path) -> Path:
    return next(trn_home.glob("sweeps/*/*/*/*"))


def kill_everything(proc: subprocess.Popen, trn_home: Path) -> None:
    """SIGKILL the sweep process and every process under it, supervisors and runners: a
    crash. Frozen first (SIGSTOP), so none of them ends its job while the others die."""
    family = [proc.pid, *descendants(proc.pid)]
    for pid in family:
        _signal(pid, signal.SIGSTOP)
    runners = [r.get("runner_pid") for r in sweep_records(trn_home)]  # warm ones: not our kin
    for pid in [*family, *filter(None, runners)]:
        _signal(int(pid), signal.SIGKILL)
    proc.communicate(timeout=60)


def descendants(pid: int) -> list[int]:
    """Every process whose parent chain leads to ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        todo += kids
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def by_point(records: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["job_id"]):
        out.setdefault(r["sweep_point"], []).append(r)
    return out


def file_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (but the append-only logs) by its content's hash."""
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("events.jsonl", "trials.jsonl", "sweep.log")
    }


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
