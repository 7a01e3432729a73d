"""A job's events folded into what its console shows: progress, one row per validation, the
best objective so far and its checkpoint (plain Python: the plain and the live views share it)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from trn.timestamps import seconds as _seconds

ENDS = {
    "job_completed": "completed",
    "job_failed": "failed",
    "job_cancelled": "cancelled",
    "job_preempted": "preempted",
    "job_pruned": "pruned",
}


@dataclass
class Row:
    """One validation: the epoch's metrics, whether it set a new best, whether it was saved."""

    epoch: int
    step: int
    metrics: dict[str, Any]
    best: bool = False
    saved: bool = False


def loss_of(metrics: dict[str, Any]) -> tuple[str, float] | None:
    """The first loss-like number a module logs in its train phase (whatever it is named)."""
    for key, value in metrics.items():
        if "loss" in key.lower() and isinstance(value, int | float):
            return key, float(value)
    return None


def better(value: Any, than: Any, mode: str) -> bool:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return than is None or (value > than if mode == "max" else value < than)


@dataclass
class JobState:
    objective: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    job_dir: str | None = None
    devices: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    state: str = "submitted"
    max_epochs: int | None = None
    total: int | None = None
    epoch: int = 0
    step: int = 0
    loss: tuple[str, float] | None = None
    rows: list[Row] = field(default_factory=list)
    best: Any = None
    best_row: Row | None = None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None  # the terminal event
    resumed: tuple[str | None, int | None] = (None, None)  # a resume: the parent and its step
    started_at: float | None = None  # when it was submitted (the event's ts)
    ended_at: float | None = None  # when it ended
    _first: tuple[float, int] | None = None  # (emitted at, step) of the first step seen
    _last: tuple[float, int, float] | None = None  # ... of the latest, and when it arrived

    @property
    def metric(self) -> str | None:
        return self.objective.get("metric")

    @property
    def mode(self) -> str:
        return str(self.objective.get("mode", "max"))

    def update(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        self.job_id = event.get("job_id") or self.job_id
        if name == "job_submitted":
            self.started_at = _seconds(event.get("ts"))  # its slot was free: it is starting
            self.job_dir, self.devices = event.get("job_dir"), list(event.get("devices") or [])
            self.overrides = list(event.get("overrides") or [])
            self.resumed = (event.get("parent_job_id"), event.get("resumed_from_step"))
        elif name == "devices_waiting":
            self.state = "waiting"
        elif name == "job_started":
            self.state = "running"
            self.max_epochs, self.total = event.get("max_epochs"), event.get("total_steps")
        elif name in ("metrics", "heartbeat"):
            self._progress(event)
        elif name == "checkpoint_saved":
            self.checkpoints.append(event)
            if self.rows and self.rows[-1].step == event.get("step"):
                self.rows[-1].saved = True
        elif name in ENDS:
            self.state, self.end = ENDS[name], event
            self.ended_at = _seconds(event.get("ts"))

    def _progress(self, event: dict[str, Any]) -> None:
        self.state = "running" if self.state in ("submitted", "waiting") else self.state
        self.epoch, self.step = (
            int(event.get("epoch", self.epoch)),
            int(event.get("step", self.step)),
        )
        # when the runner emitted it: step events reach the files in batches (events.flush_s)
        at = _seconds(event.get("ts")) or time.time()
        if self._first is None:
            self._first = (at, self.step)
        self._last = (at, self.step, time.monotonic())
        metrics = event.get("metrics") or {}
        if event.get("phase") == "train":
            self.loss = loss_of(metrics) or self.loss
        elif event.get("event") == "metrics":  # an epoch's (validation) metrics
            row = Row(self.epoch + 1, self.step, dict(metrics))
            if self.metric and better(metrics.get(self.metric), self.best, self.mode):
                self.best, self.best_row, row.best = metrics[self.metric], row, True
            self.rows.append(row)

    def elapsed(self) -> float | None:
        """Seconds it ran: start to end, or to now while it runs (None before it started)."""
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at or time.time()) - self.started_at)

    def rate(self) -> float | None:
        """Steps per second since the first step seen."""
        if not (self._first and self._last) or self._last[1] <= self._first[1]:
            return None
        if self._last[0] <= self._first[0]:
            return None
        return (self._last[1] - self._first[1]) / max(1e-9, self._last[0] - self._first[0])

    def eta(self) -> float | None:
        rate = self.rate()
        if not (rate and self.total and self._last):
            return None
        left = (self.total - self.step) / rate - (time.monotonic() - self._last[2])
        return max(0.0, left)

    def columns(self) -> list[str]:
        """The validation metrics logged so far, the objective first."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row.metrics))
        keys = sorted(seen)
        if self.metric in seen:
            keys.remove(self.metric)
            keys.insert(0, self.metric)
        return keys
