"""How ``trn run`` shows a job's events: a progress bar in a terminal, plain lines otherwise,
or (``events.stdout=true``) the raw JSON lines on stdout and the human view on stderr."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from trn.text import event_line

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CLEAR = "\r\x1b[K"


def plain(text: str) -> str:
    """No control characters in logs: newlines, tabs, escapes become spaces."""
    return _CONTROL.sub(" ", text)


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class PlainLines:
    """One readable line per event (heartbeats skipped): safe for files and CI logs."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") != "heartbeat":
            self.stream.write(plain(event_line(event)) + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class ProgressBar(PlainLines):
    """Event lines scroll above one bar that is redrawn in place: epoch, step, loss, ETA."""

    def __init__(self, stream: TextIO):
        super().__init__(stream)
        self.max_epochs: int | None = None
        self.total: int | None = None
        self.epoch = self.step = 0
        self.loss: float | None = None
        self.start: tuple[float, int] | None = None  # (time, step) of the first step seen

    def __call__(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "job_started":
            self.max_epochs, self.total = event.get("max_epochs"), event.get("total_steps")
        if name in ("metrics", "heartbeat"):
            self._progress(event)
        if name == "heartbeat" or (name == "metrics" and event.get("phase") == "train"):
            self._draw()
            return
        self.stream.write(CLEAR + plain(event_line(event)) + "\n")
        self._draw()

    def _progress(self, event: dict[str, Any]) -> None:
        self.epoch, self.step = event.get("epoch", self.epoch), event.get("step", self.step)
        loss = (event.get("metrics") or {}).get("train/loss")
        if loss is not None and event.get("phase") == "train":
            self.loss = loss
        if self.start is None:
            self.start = (time.monotonic(), self.step)

    def line(self) -> str:
        epochs = f"/{self.max_epochs}" if self.max_epochs and self.max_epochs > 0 else ""
        parts = [f"epoch {self.epoch + 1}{epochs}", f"step {self.step}"]
        if self.total:
            done = min(1.0, self.step / self.total)
            parts[1] += f"/{self.total} [{'#' * int(done * 20):<20}] {done:4.0%}"
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        parts.append(f"ETA {self._eta()}")
        return "  ".join(parts)

    def _eta(self) -> str:
        if not (self.total and self.start) or self.step <= self.start[1]:
            return "?"
        rate = (self.step - self.start[1]) / max(1e-9, time.monotonic() - self.start[0])
        return fmt_duration((self.total - self.step) / rate)

    def _draw(self) -> None:
        if self.start is None:
            self.stream.flush()
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write(CLEAR + self.line()[:width])
        self.stream.flush()

    def close(self) -> None:
        self.stream.write(CLEAR)
        self.stream.flush()


class JsonLines:
    """``events.stdout=true``: every event as its JSON line on ``out``; people read ``human``."""

    def __init__(self, out: TextIO, human: PlainLines):
        self.out, self.human = out, human

    def __call__(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
        self.out.flush()
        self.human(event)

    def close(self) -> None:
        self.human.close()


def make_echo(human: TextIO, json_out: TextIO | None = None) -> PlainLines | JsonLines:
    """The echo for ``trn run``: a bar when ``human`` is a terminal, else plain lines."""
    view = ProgressBar(human) if _isatty(human) else PlainLines(human)
    return JsonLines(json_out, view) if json_out is not None else view


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def line_printer(
    raw: bool, heartbeats: bool = False, with_job: bool = False
) -> Callable[[str], None]:
    """For ``trn logs`` / ``trn events``: print raw JSON lines, or readable ones (heartbeats
    only if asked for; with the job id in front when lines of several jobs mix)."""

    def show(line: str) -> None:
        if raw:
            sys.stdout.write(line + "\n")
        else:
            try:
                event = json.loads(line)
            except ValueError:
                return
            if not isinstance(event, dict) or (
                event.get("event") == "heartbeat" and not heartbeats
            ):
                return
            job = f"{(event.get('job_id') or '-')[:18]:<18} " if with_job else ""
            sys.stdout.write(job + plain(event_line(event)) + "\n")
        sys.stdout.flush()

    return show
