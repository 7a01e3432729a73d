"""Cancel a job or a sweep: what ``trn cancel`` and ``trn.Job.cancel`` share.

A job: its backend (:mod:`trn.lifecycle.backends`) asks it to stop. Locally: SIGINT to its supervisor
on this host, which forwards it to the runner; the runner saves at the next step boundary and
exits, and the supervisor ends the job. On Slurm: ``scancel --signal=INT``. A job whose supervisor
is gone (``lost``) has nobody to end it: its runner, if still alive, gets the SIGINT directly and
the job is ended ``cancelled`` here. Either way its newest checkpoint stays resumable with ``trn resume JOB``.

A sweep: SIGINT to the sweep's own process (``sweep.json`` in its dir), exactly Ctrl-C in its
terminal: nothing new starts, every running job is cancelled as above, and the sweep ends
``cancelled`` with its summary. A sweep whose process is gone gets its jobs cancelled one by one
and its ``sweep_completed`` event written (and notified, as its jobs' ``notify`` says) here.

No torch, Lightning or Hydra: cancelling starts in a blink.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from trn import proc
from trn.errors import TrnError, UsageError
from trn.jobdir import SWEEP_STATE
from trn.registry.record import TERMINAL, JobRecord
from trn.registry.store import Registry
from trn.registry.sweeps import sweep_end, sweep_events, sweep_started
from trn.timestamps import seconds

POLL_S = 0.2


# -- jobs -----------------------------------------------------------------------------------
def request_job(registry: Registry, record: JobRecord) -> bool:
    """Ask one unfinished job to stop. True: a process will end it (wait for its record);
    False: it was ``lost`` and its record is ended now. ``UsageError`` for a job its backend
    cannot reach from here."""
    from trn.lifecycle.backends import backend_of

    return backend_of(record).cancel(registry, record)


def wait_job(registry: Registry, job_dir: Path, timeout: float) -> JobRecord:
    """The job's record once it has ended; ``TrnError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        record = registry.load(job_dir)
        if record.state in TERMINAL:
            return record
        if time.monotonic() > deadline:
            raise TrnError(f"job {record.job_id} still {record.state} after {timeout:.0f}s")
        time.sleep(POLL_S)


# -- sweeps ---------------------------------------------------------------------------------


def request_sweep(home: Path, sweep_dir: Path) -> bool:
    """Ask a running sweep to stop. True: its process will end it (wait for ``sweep_end``);
    False: its process was gone, so its jobs were cancelled and its end written here."""
    state = _read_json(sweep_dir / SWEEP_STATE)
    sweep_id = sweep_dir.name
    if state.get("host", socket.gethostname()) != socket.gethostname():
        raise UsageError(f"sweep {sweep_id} runs on host {state['host']}; run `trn cancel` there")
    pid = state.get("pid")
    if pid and proc.alive(pid, state.get("pid_start")):
        if state.get("cancel_requested_at"):
            return True  # asked already: a second SIGINT would be a second Ctrl-C, a SIGKILL
        from trn import fsutil
        from trn.timestamps import utc_now

        fsutil.atomic_write_json(
            sweep_dir / SWEEP_STATE, {**state, "cancel_requested_at": utc_now()}
        )
        try:
            os.kill(int(pid), signal.SIGINT)  # its Ctrl-C: the launcher cancels every job
            return True
        except ProcessLookupError:
            pass
    _cancel_lost_sweep(home, sweep_dir)
    return False


def _cancel_lost_sweep(home: Path, sweep_dir: Path) -> None:
    from trn.lifecycle.sweep import finish

    registry = Registry(home)
    sweep_id = sweep_dir.name
    records = registry.list(sweep_id=sweep_id, limit=None)
    for record in records:
        if record.state not in TERMINAL:
            if request_job(registry, record):
                wait_job(registry, Path(record.job_dir), 120)
    started = sweep_started(sweep_dir)
    # the sweep's duration: from its sweep_started event to now
    since = seconds(started.get("ts")) or time.time()
    finish(
        sweep_events(sweep_dir, sweep_id, home),
        sweep_id,
        home,
        started.get("objective") or {},
        "cancelled",
        time.monotonic() - (time.time() - since),
        "cancelled by `trn cancel` after the sweep's process was lost",
        _notify_config(records),
    )


def _notify_config(records: list[JobRecord]) -> dict[str, Any] | None:
    """The ``notify`` a sweep's process would have used: its first job's (they share it)."""
    from trn.provenance.jobfiles import config_of

    for record in sorted(records, key=lambda r: r.job_id):
        try:
            return config_of(record).get("notify")
        except TrnError:  # its config.yaml is gone: the next job's
            continue
    return None  # no job had started: nobody knows where to tell


def wait_sweep(home: Path, sweep_dir: Path, timeout: float) -> dict[str, Any]:
    """The sweep's ``sweep_completed`` event; ``TrnError`` after ``timeout`` seconds. A process
    that died without writing it (signalled before it had started its sweep) is a lost sweep."""
    state = _read_json(sweep_dir / SWEEP_STATE)
    pid, started = state.get("pid"), state.get("pid_start")
    deadline = time.monotonic() + timeout
    while True:
        alive = proc.alive(
            pid, started
        )  # asked before the read: an end written as it exits is seen
        end = sweep_end(sweep_dir)
        if end is not None:
            return end
        if not alive:
            _cancel_lost_sweep(home, sweep_dir)
        elif time.monotonic() > deadline:
            raise TrnError(f"sweep {sweep_dir.name} still running after {timeout:.0f}s")
        else:
            time.sleep(POLL_S)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {}
