"""How far a job is and when it will end, from its events: the dashboard's progress bar.

The total is the runner's ``job_started`` event: ``total_steps`` (Lightning's
``estimated_stepping_batches``, which already takes ``max_steps``, ``max_epochs`` and
``limit_train_batches`` into account) and ``max_epochs``. The position is the newest ``metrics``
or ``heartbeat`` event's ``step`` and ``epoch``. The fraction is step / total_steps; without a
step total (an iterable dataset of unknown length) it is finished epochs / max_epochs; without
either there is none. The rate is this job's own: units done between its first and newest
position event over the time between them (so a resumed job's rate starts afresh, while its
steps go on from its parent's). ETA = units left / rate, less the time since the newest event.

A :class:`Tracker` per job reads only the bytes appended since its last look.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trn.events.reader import parse, read_new
from trn.timestamps import seconds

POSITION_EVENTS = ("metrics", "heartbeat")
TRACKERS = 512  # jobs whose read position is kept; a dashboard shows a few dozen at most


@dataclass
class Progress:
    """What the progress endpoint answers (``unit``: ``steps``, ``epochs`` or None)."""

    step: int | None = None
    epoch: int | None = None
    epochs_done: int = 0
    total_steps: int | None = None
    max_epochs: int | None = None
    unit: str | None = None
    done: float | None = None
    total: float | None = None
    fraction: float | None = None
    per_s: float | None = None  # units per second
    eta_s: float | None = None
    updated_at: str | None = None
    samples_per_s: float | None = None  # the newest step event's (the runner's own measure)
    tokens_per_s: float | None = None  # the same step event's, where its batches are token ids

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Point:
    at: float
    step: int
    epochs_done: int


@dataclass
class Tracker:
    path: Path
    offset: int = 0
    total_steps: int | None = None
    max_epochs: int | None = None
    first: _Point | None = None
    last: _Point | None = None
    last_ts: str | None = None
    epoch: int | None = None
    samples_per_s: float | None = None
    tokens_per_s: float | None = None

    def read(self) -> None:
        lines, self.offset = read_new(self.path, self.offset)
        for line in lines:
            event = parse(line)
            if event:
                self.take(event)

    def take(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "job_started":  # a restart of the runner (requeue) starts the count afresh
            self.total_steps = _whole(event.get("total_steps"))
            self.max_epochs = _whole(event.get("max_epochs"))
            self.first = None
        elif name in POSITION_EVENTS and isinstance(event.get("step"), int):
            epoch = _whole(event.get("epoch")) or 0
            # an epoch's own metrics come after it ends: that epoch is done
            done = epoch + 1 if event.get("phase") in ("epoch", "val") else epoch
            previous = self.last.epochs_done if self.last else 0
            point = _Point(_seconds(event.get("ts")), event["step"], max(done, previous))
            self.first = self.first or point
            self.last, self.last_ts, self.epoch = point, event.get("ts"), epoch
            rate = event.get("samples_per_s")
            if isinstance(rate, int | float) and event.get("phase") == "train":
                self.samples_per_s = float(rate)
                tokens = event.get("tokens_per_s")
                self.tokens_per_s = float(tokens) if isinstance(tokens, int | float) else None

    def progress(self, now: float | None = None) -> Progress:
        out = Progress(total_steps=self.total_steps, max_epochs=self.max_epochs)
        out.samples_per_s, out.tokens_per_s = self.samples_per_s, self.tokens_per_s
        if self.last is None:
            return out
        out.step, out.epoch, out.epochs_done = self.last.step, self.epoch, self.last.epochs_done
        out.updated_at = self.last_ts
        if self.total_steps:
            out.unit, out.done, out.total = "steps", float(self.last.step), float(self.total_steps)
        elif self.max_epochs and self.max_epochs > 0:
            out.unit, out.done = "epochs", float(self.last.epochs_done)
            out.total = float(self.max_epochs)
        else:
            return out
        assert out.done is not None and out.total is not None
        out.fraction = max(0.0, min(1.0, out.done / out.total))
        first, last = self.first, self.last
        if first is None or last.at <= first.at:
            return out
        if out.unit == "steps":
            moved = last.step - first.step
        else:
            moved = last.epochs_done - first.epochs_done
        if moved <= 0:
            return out
        out.per_s = moved / (last.at - first.at)
        since = max(0.0, (time.time() if now is None else now) - last.at)
        out.eta_s = max(0.0, max(0.0, out.total - out.done) / out.per_s - since)
        return out


HEAD_BYTES = 256 * 1024  # job_started is among a job's first events
TAIL_BYTES = 1024 * 1024  # and the newest positions among its last: what a long file is read for


def snapshot(events: Path) -> Progress:
    """A job's progress read once (``trn status``): its whole events file when small, else its
    head (the totals) and its tail (the position and rate lately)."""
    tracker = Tracker(events)
    try:
        size = events.stat().st_size
    except OSError:
        return tracker.progress()
    if size <= HEAD_BYTES + TAIL_BYTES:
        tracker.read()
        return tracker.progress()
    with open(events, "rb") as f:
        head = f.read(HEAD_BYTES)
        f.seek(size - TAIL_BYTES)
        tail = f.read()
    lines = head[: head.rfind(b"\n") + 1].splitlines()
    lines += tail[tail.find(b"\n") + 1 : tail.rfind(b"\n") + 1].splitlines()
    for line in lines:
        event = parse(line.decode("utf-8", errors="replace"))
        if event and (event.get("event") != "job_started" or tracker.last is None):
            tracker.take(event)
    return tracker.progress()


class Trackers:
    """A bounded map of job dir -> :class:`Tracker`, the least recently asked dropped first."""

    def __init__(self, size: int = TRACKERS):
        self.size = size
        self.known: OrderedDict[Path, Tracker] = OrderedDict()
        self.lock = threading.Lock()  # requests read in worker threads

    def progress(self, events: Path) -> Progress:
        with self.lock:
            tracker = self.known.pop(events, None) or Tracker(events)
            self.known[events] = tracker
            while len(self.known) > self.size:
                self.known.popitem(last=False)
            tracker.read()
            return tracker.progress()


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(ts: Any) -> float:
    at = seconds(ts)
    return time.time() if at is None else at
