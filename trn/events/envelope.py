"""Build one event: the envelope of DESIGN.md plus the event's own fields."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from typing import Any

from trn.events import SCHEMA_VERSION

_HOST = socket.gethostname()
_lock = threading.Lock()
_last_ms = 0
_counter = 0
_suffix = ("", 0)  # (8 random hex digits, the pid they were drawn in): redrawn after a fork
_second = (0, "")  # (a whole second, its RFC 3339 text): strftime once per second, not per event


def _random_suffix() -> str:
    global _suffix
    pid = os.getpid()
    if _suffix[1] != pid:
        _suffix = (secrets.token_hex(4), pid)
    return _suffix[0]


def _timestamps() -> tuple[int, str]:
    """(ms since the epoch, RFC 3339 UTC with ms) from one clock reading."""
    global _second
    t = time.time()
    ms, whole = int(t * 1000), int(t)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return ms, f"{_second[1]}.{ms % 1000:03d}Z"


def _next_id(ms: int) -> str:
    global _last_ms, _counter
    with _lock:
        if ms <= _last_ms:
            ms, _counter = _last_ms, _counter + 1
        else:
            _last_ms, _counter = ms, 0
        return f"{ms:012x}{_counter & 0xFFFF:04x}{_random_suffix()}"


def event_id() -> str:
    """Unique and time-ordered: 12 hex digits of ms time, 4 of a per-ms counter, 8 random (drawn
    once per process: unique across processes unless two draw the same 32 bits and also emit
    in the same millisecond with the same counter)."""
    return _next_id(_timestamps()[0])


def make_event(
    event: str,
    *,
    job_id: str | None,
    seq: int,
    attempt: int = 1,
    sweep_id: str | None = None,
    source: str = "cli",
    rank: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    ms, ts = _timestamps()
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "event": event,
        "id": _next_id(ms),
        "ts": ts,
        "job_id": job_id,
        "sweep_id": sweep_id,
        "seq": seq,
        "attempt": attempt,
        "source": source,
        "host": _HOST,
        "pid": os.getpid(),
        "rank": rank,
    }
    out.update(fields)
    return out
