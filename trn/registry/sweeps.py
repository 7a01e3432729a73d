"""Sweep records under ``$TRN_HOME/sweeps/YYYY/MM/DD/<sweep_id>``: who runs the sweep and how it
went.

``sweep.json`` names the process running the sweep (``trn cancel SWEEP`` signals it) and the
sweep dir's ``events.jsonl`` holds its ``sweep_started`` and ``sweep_completed`` events. The
launcher writes them and ``trn cancel`` reads them, so they live here, below both.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from trn import proc
from trn.errors import NotFound
from trn.jobdir import SWEEP_SPACE, SWEEP_STATE, HomeDir, JobDir
from trn.text import did_you_mean

EVENTS = JobDir.EVENTS  # a sweep dir's events file has a job dir's name


@dataclass
class SweepSpace:
    """``space.json``: what a sweep sweeps and the config it starts from, written when it
    starts; ``trn resume SWEEP`` runs the same overrides and refuses a changed space or base
    config."""

    overrides: list[str]  # as given to `trn run -m`
    sweeper: str  # basic, optuna, ...
    points: list[list[str]] | None = None  # a basic sweep's points (None: the sweeper decides)
    config: dict[str, Any] | None = None  # the first point's resolved config (Optuna: the fixed)
    config_dir: str | None = None  # the user's project config dir, if any

    def write(self, sweep_dir: Path) -> None:
        from trn import fsutil

        fsutil.atomic_write_json(sweep_dir / SWEEP_SPACE, asdict(self))

    @classmethod
    def read(cls, sweep_dir: Path) -> SweepSpace | None:
        """The sweep's space; None when its file is missing or not one."""
        import json

        try:
            data = json.loads((sweep_dir / SWEEP_SPACE).read_text())
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (OSError, ValueError, TypeError):
            return None


def new_sweep_dir(home: Path) -> tuple[str, Path]:
    """``$TRN_HOME/sweeps/YYYY/MM/DD/<sweep_id>``, made exclusively (the id is unique)."""
    from trn import ids
    from trn.paths import make_dirs

    day = make_dirs(HomeDir(home).sweeps / time.strftime("%Y/%m/%d", time.gmtime()), home)
    while True:
        sweep_id = ids.new_id()
        try:
            (day / sweep_id).mkdir()
            return sweep_id, day / sweep_id
        except FileExistsError:
            continue


def find_sweep(home: Path, sweep_id: str) -> Path | None:
    """The dir of the sweep ``sweep_id`` or of the one sweep whose id starts with it
    (``$TRN_HOME/sweeps/YYYY/MM/DD/<id>``); None if none. The prefix rules are a job id's
    (:func:`trn.ids.pick`): an ambiguous prefix is a usage error."""
    from trn import ids

    ids.check_job_id(sweep_id)
    found = {p.name: p for p in HomeDir(home).sweep_dirs(f"{sweep_id}*")}
    chosen = ids.pick(sweep_id, sorted(found), "sweep")
    return found[chosen] if chosen else None


def no_sweep(home: Path, text: str) -> NotFound:
    """The error for a sweep id that names none, with the nearest sweep id if one is close."""
    known = [p.name for p in HomeDir(home).sweep_dirs()]
    hint = did_you_mean(text, known)
    return NotFound(f"no sweep {text!r} in {home}{hint} (see `trn list`; is TRN_HOME right?)")


def sweep_id_of(home: Path, text: str) -> str:
    """The full id of the sweep ``text`` names (a unique prefix works); ``text`` itself when no
    sweep dir matches (its jobs may outlive a deleted dir)."""
    found = find_sweep(home, text)
    return found.name if found is not None else text


def job_or_sweep(home: Path, text: str) -> Path | None:
    """The sweep dir ``text`` names when it names a sweep rather than a job: sweeps first (a
    sweep's id prefix often matches its first job's too), except for a job's exact id."""
    found = find_sweep(home, text)
    if found is None or found.name == text:
        return found
    from trn.registry.store import Registry

    try:
        exact = Registry(home).index.by_prefix(text, 1)
    except (OSError, sqlite3.Error):  # no index to read: no job to prefer
        return found
    return None if exact and exact[0].job_id == text else found


def record_process(
    sweep_dir: Path, sweep_id: str, jobs: int | None, pid: int | None = None, attempt: int = 1
) -> dict[str, Any]:
    """``sweep.json``: which process runs the sweep (``pid``, default this one; ``trn cancel
    SWEEP`` signals it), and every attempt's process (a resume adds one)."""
    import json

    from trn import fsutil
    from trn.timestamps import utc_now

    try:
        tries = list(json.loads((sweep_dir / SWEEP_STATE).read_text()).get("attempts") or [])
    except (OSError, ValueError, AttributeError):
        tries = []
    tries = [t for t in tries if t.get("attempt") != attempt]
    pid = pid or os.getpid()
    tries.append({"attempt": attempt, "pid": pid, "started_at": utc_now()})
    info = {
        "sweep_id": sweep_id,
        "sweep_dir": str(sweep_dir),
        "pid": pid,
        "pid_start": proc.start_time(pid),  # a later process given the pid is not the sweep's
        "host": socket.gethostname(),
        "jobs": jobs,
        "attempt": attempt,  # 1, then one more per `trn resume SWEEP`
        "attempts": sorted(tries, key=lambda t: t["attempt"]),
    }
    fsutil.atomic_write_json(sweep_dir / SWEEP_STATE, info)
    return info


def sweep_alive(sweep_dir: Path) -> bool:
    """Whether the process of a sweep that has not ended is still there (``False``: it was
    lost, e.g. SIGKILLed; ``trn resume SWEEP`` continues it). A sweep of another host: True,
    nobody here can tell."""
    import json

    try:
        state = json.loads((sweep_dir / SWEEP_STATE).read_text())
    except (OSError, ValueError):
        return False
    if state.get("host") != socket.gethostname():
        return True
    return proc.alive(state.get("pid"), state.get("pid_start"))


def sweep_events(sweep_dir: Path, sweep_id: str, home: Path) -> Any:
    """The writer of the sweep's own events: its dir's ``events.jsonl`` and the global stream."""
    from trn.events.writer import EventWriter

    return EventWriter(
        sweep_dir,
        None,  # type: ignore[arg-type]  # sweep events belong to no job
        source="launcher",
        sweep_id=sweep_id,
        global_path=HomeDir(home).events,
    )


def sweep_started(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's ``sweep_started`` event (its first line), ``{}`` if there is none."""
    from trn.events.reader import parse

    try:
        with open(sweep_dir / EVENTS, encoding="utf-8") as f:
            return parse(f.readline()) or {}
    except FileNotFoundError:
        return {}


def read_events(sweep_dir: Path) -> list[dict[str, Any]]:
    """The sweep's own events (``sweep_started``, ``sweep_completed``, per attempt)."""
    from trn.events.reader import parse

    try:
        lines = (sweep_dir / EVENTS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [e for e in map(parse, lines) if e]


def sweep_end(sweep_dir: Path) -> dict[str, Any] | None:
    """The sweep's ``sweep_completed`` event, ``None`` while it runs. A resumed sweep starts
    again (a second ``sweep_started``): only an end after its last start counts."""
    end = None
    for event in read_events(sweep_dir):
        if event.get("event") == "sweep_started":
            end = None
        elif event.get("event") == "sweep_completed":
            end = event
    return end


def attempts(sweep_dir: Path) -> list[dict[str, Any]]:
    """Each run of the sweep (the first, then every ``trn resume SWEEP``): its number, when it
    started and ended, how it ended (``state`` None while it runs)."""
    out: list[dict[str, Any]] = []
    for event in read_events(sweep_dir):
        if event.get("event") == "sweep_started":
            out.append(
                {
                    "attempt": event.get("sweep_attempt") or len(out) + 1,
                    "started_at": event.get("ts"),
                    "ended_at": None,
                    "state": None,
                    "jobs": event.get("jobs"),
                }
            )
        elif event.get("event") == "sweep_completed" and out:
            out[-1].update(ended_at=event.get("ts"), state=event.get("state"))
    return out
