"""The per-job event writer: numbers events (``seq`` gap-free per job) and fans them out.

Phases of a job write one after another (the CLI's job_submitted, then the runner, then the
supervisor's terminal event), so each writer continues ``seq`` from the job's own file.

``emit`` writes at once. ``emit_later`` is for the events of every training step: it queues
the event and writes the queue in a batch (within ``flush_s``, and before any ``emit``), so a
step pays for an append while the encoding runs warm, many events in a row.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from trn.events.envelope import Envelope
from trn.events.sinks import FileSink, Guarded, Sink
from trn.jobdir import JobDir


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
        flush_s: float = 0.5,
        max_queued: int = 1000,
    ):
        self.job_file = JobDir(job_dir).events
        self.envelope = Envelope(
            job_id=job_id, attempt=attempt, sweep_id=sweep_id, source=source, rank=rank
        )
        self.seq = last_seq(self.job_file) + 1
        sinks: list[Sink] = [FileSink(self.job_file, "job")]
        if global_path is not None:
            sinks.append(FileSink(global_path, "global"))
        self._files = len(sinks)  # the job's file and the global stream; then the extra sinks
        sinks.extend(extra_sinks or [])
        for sink in sinks:  # sinks with a background sender report through us
            if hasattr(sink, "report"):
                sink.report = self.warn  # type: ignore[attr-defined]
        self.sinks = [Guarded(s, report=self.warn) for s in sinks]
        self._lock = threading.Lock()  # the runner's heartbeat thread emits too
        self._warnings: list[str] = []
        self._later: list[tuple[str, dict[str, Any], float]] = []  # (event, fields, time)
        self.flush_s, self.max_queued = flush_s, max_queued
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

    def emit(self, event: str, **fields: Any) -> str:
        """Write one event to every sink, after any queued ones; returns its JSON line."""
        with self._lock:
            self._write_queued()
            return self._emit(event, fields, time.time())

    def emit_later(self, event: str, **fields: Any) -> None:
        """Queue one event, stamped now: written with the next ``emit``, at ``close``, or with
        this call once the oldest queued event is ``flush_s`` old or ``max_queued`` wait.

        For events of every training step. A crash of the process loses at most these queued
        events (half a second of step metrics), never one written with ``emit``.
        """
        now = time.time()
        with self._lock:
            self._later.append((event, fields, now))
            if now - self._later[0][2] >= self.flush_s or len(self._later) >= self.max_queued:
                self._write_queued()

    def flush(self) -> None:
        """Write the queued events now."""
        with self._lock:
            self._write_queued()

    def _write_queued(self) -> None:
        queued, self._later = self._later, []
        for event, fields, stamp in queued:
            self._emit(event, fields, stamp)
        while self._warnings:
            self._emit("warning", {"message": self._warnings.pop(0)}, time.time())

    def _emit(self, event: str, fields: dict[str, Any], stamp: float) -> str:
        try:
            line = self.envelope.line(event, self.seq, fields, stamp)
        except ValueError:  # NaN/Infinity somewhere: rare, so only then walk the fields
            line = self.envelope.line(event, self.seq, _finite(fields), stamp)
        self.seq += 1
        if not self.closed:
            for sink in self.sinks:
                sink.write(line)
        return line

    def close(self) -> None:
        """Write what is queued; close the extra sinks (Redis: a bounded wait for delivery);
        write what closing them reported to the job's files as ``warning`` events; close those."""
        if self.closed:
            return
        self.flush()
        files, extra = self.sinks[: self._files], self.sinks[self._files :]
        for sink in extra:
            sink.close()
        with self._lock:
            self.sinks = files
            self._write_queued()
            self.closed = True
        for sink in files:
            sink.close()
