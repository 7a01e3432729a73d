"""Where event lines go. A sink that fails is reported and retried, never raised into training."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from trn.jobdir import HomeDir


class Sink(Protocol):
    name: str

    def write(self, line: str) -> None: ...

    def close(self) -> None: ...


class FileSink:
    """Append lines to a file (the job's ``events.jsonl`` or the global stream).

    One ``write`` per line on an ``O_APPEND`` descriptor kept open (opening per line cost
    more than the rest of an event), so concurrent writers never interleave within a line.
    A file moved away (log rotation) keeps getting the lines: rotate with copytruncate.
    """

    def __init__(self, path: Path, name: str = "file"):
        self.path = Path(path)
        self.name = f"{name}:{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    def write(self, line: str) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(self._fd, (line + "\n").encode())
        except OSError:
            self.close()  # reopened on the next write (Guarded retries the line)
            raise

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class Guarded:
    """Wraps a sink: failures are reported once, the lines kept (bounded) and retried later."""

    def __init__(self, sink: Sink, max_pending: int = 10_000, report=None):
        self.sink = sink
        self.pending: deque[str] = deque(maxlen=max_pending)
        self.failures = 0
        self.reported = False
        self.report = report or (lambda msg: print(f"trn: warning: {msg}", file=sys.stderr))

    def write(self, line: str) -> None:
        if not self.pending:  # the usual case: straight through
            try:
                self.sink.write(line)
                return
            except Exception:  # noqa: BLE001 - kept and retried below, reported once
                pass
        self.pending.append(line)
        self.flush()

    def flush(self) -> None:
        while self.pending:
            try:
                self.sink.write(self.pending[0])
            except Exception as err:  # noqa: BLE001 - telemetry never kills training
                self.failures += 1
                if not self.reported:
                    self.reported = True
                    self.report(f"event sink {self.sink.name} failed ({err}); will retry")
                return
            self.pending.popleft()
        if self.reported:
            self.reported = False
            self.report(f"event sink {self.sink.name} recovered")

    def close(self) -> None:
        self.flush()
        try:
            self.sink.close()
        except Exception:  # noqa: BLE001
            pass


def global_path(config: dict[str, Any], home: Path) -> Path | None:
    """``$TRN_HOME/events.jsonl`` unless ``events.global=false``."""
    return HomeDir(home).events if config.get("events", {}).get("global", True) else None


def from_config(config: dict[str, Any], report: Callable[[str], None] | None = None) -> list[Sink]:
    """The extra sinks a run's ``events`` section asks for (the job's own file is always on).

    ``events.file`` appends every event to one more file; ``events.redis.url`` adds the Redis
    Streams sink. ``events.stdout`` is the CLI's business (``trn run`` prints the lines), since
    a runner's stdout is its log file.
    """
    section = config.get("events", {})
    sinks: list[Sink] = []
    if section.get("file"):
        sinks.append(FileSink(Path(os.path.expanduser(section["file"])).resolve(), "file"))
    redis = section.get("redis") or {}
    if redis.get("url"):
        from trn.events.redis_sink import RedisOptions, RedisStreamSink

        sinks.append(RedisStreamSink(RedisOptions.from_config(redis), report=report))
    return sinks
