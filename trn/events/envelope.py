"""Build one event: the envelope of DESIGN.md plus the event's own fields."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from typing import Any

from trn.events import SCHEMA_VERSION
from trn.registry.record import utc_now

_HOST = socket.gethostname()
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def event_id() -> str:
    """Unique and time-ordered: 12 hex digits of ms time, 4 of a per-ms counter, 8 random."""
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last_ms:
            ms, _counter = _last_ms, _counter + 1
        else:
            _last_ms, _counter = ms, 0
        return f"{ms:012x}{_counter & 0xFFFF:04x}{secrets.token_hex(4)}"


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
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "event": event,
        "id": event_id(),
        "ts": utc_now(),
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
