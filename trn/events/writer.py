"""The per-job event writer: numbers events (``seq`` gap-free per job) and fans them out.

Phases of a job write one after another (the CLI's job_submitted, then the runner, then the
supervisor's terminal event), so each writer continues ``seq`` from the job's own file.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from trn.events.envelope import make_event
from trn.events.sinks import FileSink, Guarded, Sink

# one encoder for every event: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)


def last_seq(path: Path) -> int:
    """The ``seq`` of the last complete line of a job's events file, -1 if none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().splitlines()
    except FileNotFoundError:
        return -1
    for raw in reversed(lines):
        try:
            return int(json.loads(raw)["seq"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line from a killed writer
    return -1


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: non-finite numbers become null (readers see a gap)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class EventWriter:
    def __init__(
        self,
        job_dir: Path,
        job_id: str,
        *,
        source: str,
        attempt: int = 1,
        sweep_id: str | None = None,
        rank: int = 0,
        extra_sinks: list[Sink] | None = None,
        global_path: Path | None = None,
    ):
        self.job_file = Path(job_dir) / "events.jsonl"
        self.context: dict[str, Any] = dict(
            job_id=job_id, attempt=attempt, sweep_id=sweep_id, source=source, rank=rank
        )
        self.seq = last_seq(self.job_file) + 1
        sinks: list[Sink] = [FileSink(self.job_file, "job")]
        if global_path is not None:
            sinks.append(FileSink(global_path, "global"))
        sinks.extend(extra_sinks or [])
        for sink in sinks:  # sinks with a background sender report through us
            if hasattr(sink, "report"):
                sink.report = self.warn  # type: ignore[attr-defined]
        self.sinks = [Guarded(s, report=self.warn) for s in sinks]
        self._lock = threading.Lock()  # the runner's heartbeat thread emits too
        self._warnings: list[str] = []
        self.closed = False

    def warn(self, message: str) -> None:
        """Report a telemetry problem: on stderr now, as a ``warning`` event with the next emit.

        Deferred because it may come from a sink's own thread or from inside ``emit``; the
        supervisor's next event is its terminal one, written after it resyncs ``seq``.
        """
        print(f"trn: warning: {message}", file=sys.stderr, flush=True)
        self._warnings.append(message)

    def resync(self) -> None:
        """Continue after events another process wrote to this job's file meanwhile."""
        self.seq = max(self.seq, last_seq(self.job_file) + 1)

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            while self._warnings:
                self._emit("warning", {"message": self._warnings.pop(0)})
            return self._emit(event, fields)

    def _emit(self, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        obj = make_event(event, seq=self.seq, **self.context, **fields)
        self.seq += 1
        try:
            line = _ENCODER.encode(obj)
        except ValueError:  # NaN/Infinity somewhere: rare, so only then walk the fields
            obj = _finite(obj)
            line = _ENCODER.encode(obj)
        if not self.closed:
            for sink in self.sinks:
                sink.write(line)
        return obj

    def close(self) -> None:
        """Write any warning still pending, then close every sink (Redis: a bounded wait)."""
        if self._warnings and not self.closed:
            with self._lock:
                while self._warnings:
                    self._emit("warning", {"message": self._warnings.pop(0)})
        self.closed = True
        for sink in self.sinks:
            sink.close()
