"""Ending a job whose supervisor cannot: its process was killed, or Slurm dropped it.

The record is ended (``cancelled`` or ``failed``) with its terminal event, like a supervisor
would, and a runner it left behind is killed: a sweep leaves no job ``running`` and no process.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

LIVE = ("submitted", "running")


def end_record(record: dict[str, Any], state: str, reason: str) -> dict[str, Any]:
    """End a job no supervisor will end (Slurm dropped or cancelled it): record and event."""
    from trn.events.writer import EventWriter
    from trn.registry.record import utc_now
    from trn.registry.store import Registry

    job_dir = Path(record["job_dir"])
    registry = Registry.of_job(job_dir)
    home = registry.home
    record.update(state=state, ended_at=utc_now(), error=reason)
    registry.write(record)
    events = EventWriter(
        job_dir,
        record["job_id"],
        source="launcher",
        attempt=record.get("attempt") or 1,
        sweep_id=record.get("sweep_id"),
        global_path=home / "events.jsonl",
    )
    fields = {"reason": reason} if state == "cancelled" else {"error": reason, "exit_code": -1}
    events.emit(f"job_{state}", **fields)
    events.close()
    return record


def reap(submitted: Path, rc: int | None, cancelled: bool) -> None:
    """After a job process exited: if its job never ended, kill its runner and end it here.

    ``submitted`` is the file the job process wrote its record to once it existed."""
    from trn.registry.store import Registry

    try:
        job_dir = Path(json.loads(submitted.read_text())["job_dir"])
        record = Registry.read(job_dir)
    except (OSError, ValueError, KeyError):
        return  # no job was created: nothing to end
    if record["state"] not in LIVE:
        return
    if record.get("runner_pid"):
        try:
            os.killpg(int(record["runner_pid"]), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if cancelled:
        end_record(record, "cancelled", "killed after the sweep was cancelled")
    else:
        end_record(record, "failed", f"its supervisor exited ({rc}) before the job ended")
