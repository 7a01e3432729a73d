"""The runner's heartbeat: a daemon thread emits ``heartbeat`` every N seconds.

A thread rather than a check in the training step: the step pays nothing, and a long validation
or a slow first batch still beats. ``trn list`` shows ``lost`` for a running job whose last
heartbeat is older than :func:`stale_after` (see :func:`trn.registry.record.effective_state`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

STALE_FACTOR = 3  # missed beats before a job counts as lost
STALE_MIN_S = 60.0  # never sooner than this (a loaded machine delays a thread)


def stale_after(heartbeat_s: float) -> float:
    """Seconds without a heartbeat after which a running job is shown as ``lost``."""
    return max(STALE_FACTOR * heartbeat_s, STALE_MIN_S)


class Heartbeat:
    """``emit("heartbeat", **progress())`` every ``every_s`` seconds until :meth:`stop`."""

    def __init__(
        self,
        emit: Callable[..., Any],
        every_s: float,
        progress: Callable[[], dict[str, Any]],
    ):
        self.emit = emit
        self.every_s = float(every_s)
        self.progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trn-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        if self.every_s > 0 and not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.emit("heartbeat", **self.progress())
            except Exception:  # noqa: BLE001 - telemetry never kills training
                pass
