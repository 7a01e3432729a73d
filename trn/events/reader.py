"""Read and follow JSON-line files (a job's events, the global stream, a runner log).

No third-party imports: ``trn logs`` / ``trn events`` start in a blink.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TERMINAL_EVENTS = {
    "job_completed",
    "job_failed",
    "job_cancelled",
    "job_preempted",
    "job_pruned",
}


def read_new(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines after byte ``offset`` and the offset after them (a torn tail waits)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    lines = chunk[:end].decode("utf-8", errors="replace").splitlines()
    return lines, offset + end


def follow(
    path: Path,
    *,
    offset: int = 0,
    done: Callable[[], bool] = lambda: False,
    poll_s: float = 0.2,
) -> Iterator[str]:
    """Yield lines as they are appended, until ``done()`` is true and the file is drained."""
    while True:
        finished = done()  # asked before the read, so nothing written before it is missed
        lines, offset = read_new(path, offset)
        yield from lines
        if finished:
            return
        if not lines:
            time.sleep(poll_s)


def tail_offset(path: Path, n: int) -> int:
    """The byte offset of the start of the last ``n`` lines of ``path`` (0 if shorter)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    with open(path, "rb") as f:
        start = max(0, size - 65536 * max(1, n // 100 + 1))
        f.seek(start)
        data = f.read()
    pos = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(n):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return start if start == 0 else start + data.find(b"\n") + 1
    return start + pos + 1


def parse(line: str) -> dict[str, Any] | None:
    """An event, or ``None`` for a line that is not one JSON object."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
