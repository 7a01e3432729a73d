"""Sweep records under ``$TRN_HOME/sweeps/YYYY/MM/DD/<sweep_id>``: who runs the sweep and how it
went.

``sweep.json`` names the process running the sweep (``trn cancel SWEEP`` signals it) and the
sweep dir's ``events.jsonl`` holds its ``sweep_started`` and ``sweep_completed`` events. The
launcher writes them and ``trn cancel`` reads them, so they live here, below both.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from trn.jobdir import SWEEP_STATE, JobDir

EVENTS = JobDir.EVENTS  # a sweep dir's events file has a job dir's name


def new_sweep_dir(home: Path) -> tuple[str, Path]:
    """``$TRN_HOME/sweeps/YYYY/MM/DD/<sweep_id>``, made exclusively (the id is unique)."""
    from trn import ids
    from trn.paths import make_dirs

    day = make_dirs(home / "sweeps" / time.strftime("%Y/%m/%d", time.gmtime()), home)
    while True:
        sweep_id = ids.new_id()
        try:
            (day / sweep_id).mkdir()
            return sweep_id, day / sweep_id
        except FileExistsError:
            continue


def find_sweep(home: Path, sweep_id: str) -> Path | None:
    """The dir of the sweep ``sweep_id`` (``$TRN_HOME/sweeps/YYYY/MM/DD/<id>``), if any."""
    found = sorted((Path(home) / "sweeps").glob(f"*/*/*/{sweep_id}"))
    return found[0] if found else None


def record_process(
    sweep_dir: Path, sweep_id: str, jobs: int | None, pid: int | None = None
) -> dict[str, Any]:
    """``sweep.json``: which process runs the sweep (``pid``, default this one); ``trn cancel
    SWEEP`` signals it."""
    from trn import fsutil

    info = {
        "sweep_id": sweep_id,
        "sweep_dir": str(sweep_dir),
        "pid": pid or os.getpid(),
        "host": socket.gethostname(),
        "jobs": jobs,
    }
    fsutil.atomic_write_json(sweep_dir / SWEEP_STATE, info)
    return info


def sweep_events(sweep_dir: Path, sweep_id: str, home: Path) -> Any:
    """The writer of the sweep's own events: its dir's ``events.jsonl`` and the global stream."""
    from trn.events.writer import EventWriter

    return EventWriter(
        sweep_dir,
        None,  # type: ignore[arg-type]  # sweep events belong to no job
        source="launcher",
        sweep_id=sweep_id,
        global_path=home / "events.jsonl",
    )


def sweep_started(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's ``sweep_started`` event (its first line), ``{}`` if there is none."""
    from trn.events.reader import parse

    try:
        with open(sweep_dir / EVENTS, encoding="utf-8") as f:
            return parse(f.readline()) or {}
    except FileNotFoundError:
        return {}


def sweep_end(sweep_dir: Path) -> dict[str, Any] | None:
    """The sweep's ``sweep_completed`` event, ``None`` while it runs."""
    from trn.events.reader import parse

    try:
        lines = (sweep_dir / EVENTS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        event = parse(line)
        if event and event.get("event") == "sweep_completed":
            return event
    return None
