"""Build one event: the envelope of DESIGN.md plus the event's own fields."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trn.events import SCHEMA_VERSION

_HOST = socket.gethostname()
_lock = threading.Lock()
_last_ms = 0
_counter = 0
_suffix = ("", 0)  # (8 random hex digits, the pid they were drawn in): redrawn after a fork
_second = (0, "")  # (a whole second, its RFC 3339 text): strftime once per second, not per event

# one encoder for every event (json.dumps with options builds a new one per call); NaN and
# Infinity are refused, since JSON has neither
ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)
RESERVED = frozenset("schema event id ts job_id sweep_id seq attempt source host pid rank".split())


def _random_suffix() -> str:
    global _suffix
    pid = os.getpid()
    if _suffix[1] != pid:
        _suffix = (secrets.token_hex(4), pid)
    return _suffix[0]


def _stamp(t: float | None = None) -> tuple[str, str]:
    """(event id, RFC 3339 UTC time with ms) from one clock reading (``t``, or now).

    The id is unique and time-ordered: 12 hex digits of ms time, 4 of a per-ms counter, 8 random
    (drawn once per process: unique across processes unless two draw the same 32 bits and also
    emit in the same millisecond with the same counter). One function, since an event's cost
    inside a training step is mostly cold Python code: the fewer calls, the cheaper.
    """
    global _last_ms, _counter, _second
    t = time.time() if t is None else t
    ms, whole = int(t * 1000), int(t)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    ts = f"{_second[1]}.{ms % 1000:03d}Z"
    with _lock:
        if ms <= _last_ms:  # same ms, or the clock stepped back: keep ids ordered
            ms, _counter = _last_ms, _counter + 1
        else:
            _last_ms, _counter = ms, 0
        return f"{ms:012x}{_counter & 0xFFFF:04x}{_random_suffix()}", ts


def _fast_encode() -> Callable[[Any], str]:
    """``ENCODER.encode`` without its per-call set-up: the C encoder it builds on every call,
    built once. Checked against ``ENCODER`` here; where the C encoder is missing or differs
    (another Python), ``ENCODER.encode`` itself."""
    try:
        from json.encoder import (  # type: ignore[attr-defined]
            c_make_encoder,
            encode_basestring_ascii,
        )

        iterencode = c_make_encoder(
            None, str, encode_basestring_ascii, None, ":", ",", False, False, False
        )
        sample = {"a": [1, 0.1, None, True, "é\n"], "b": {"c": 1e300}, "d": Path("x")}

        def encode(obj: Any) -> str:
            return "".join(iterencode(obj, 0))

        if encode(sample) == ENCODER.encode(sample):
            return encode
    except Exception:  # noqa: BLE001 - any doubt: the documented path
        pass
    return ENCODER.encode


encode = _fast_encode()


class Envelope:
    """Encodes one writer's events straight to a JSON line: the envelope of DESIGN.md first, in
    this order: schema, event, id, ts, job_id, sweep_id, seq, attempt, source, host, pid, rank.

    Only ``event``, ``id``, ``ts`` and ``seq`` change between a writer's events, so the rest of
    the envelope is encoded once here. This is the per-step cost of a ``metrics`` event, paid
    on the training thread: one f-string and one C-encoder call for the event's own fields.
    """

    def __init__(
        self, *, job_id: str | None, attempt: int, sweep_id: str | None, source: str, rank: int
    ):
        enc = encode  # short lines below
        self._head = f'{{"schema":{enc(SCHEMA_VERSION)},"event":'
        self._mid = f',"job_id":{enc(job_id)},"sweep_id":{enc(sweep_id)},"seq":'
        self._tail = f',"attempt":{int(attempt)},"source":{enc(source)},"host":{enc(_HOST)},"pid":'
        self._rank = f',"rank":{int(rank)}'
        self._names: dict[str, str] = {}

    def line(self, event: str, seq: int, fields: dict[str, Any], t: float | None = None) -> str:
        """The event's line (no newline), stamped ``t`` (default: now). ``ValueError`` if a
        field is NaN or infinite."""
        if not RESERVED.isdisjoint(fields):  # a programming error, like a repeated keyword
            raise TypeError(f"event fields {sorted(RESERVED & fields.keys())} are envelope keys")
        name = self._names.get(event) or self._names.setdefault(event, encode(event))
        eid, ts = _stamp(t)
        own = "," + encode(fields)[1:-1] if fields else ""
        envelope = f'{name},"id":"{eid}","ts":"{ts}"{self._mid}{seq}{self._tail}'
        return f"{self._head}{envelope}{os.getpid()}{self._rank}{own}}}"
