"""``trn run`` in a terminal: a header once, one row per validation scrolling above one live
progress line, warnings as they happen, and a summary that says what to run next."""

from __future__ import annotations

import threading
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from trn.cli.console import render
from trn.cli.console.state import ENDS, JobState
from trn.registry.record import JobRecord
from trn.text import event_line, plain


class RunView:
    """An echo for the supervisor (``view(event)``); ``verbose``: every event as a line."""

    def __init__(self, stream: TextIO, objective: dict[str, Any], verbose: bool = False):
        self.console = Console(file=stream, highlight=False, soft_wrap=False)
        self.job = JobState(dict(objective or {}))
        self.verbose = verbose
        self.columns: list[str] | None = None
        self.printed = 0  # validation rows already printed above the live line
        self.lock = threading.Lock()
        self.live = Live(
            console=self.console,
            get_renderable=self._live,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,  # the supervisor's echo is the only writer of our stream
        )
        self.started = False

    def __call__(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        with self.lock:
            self.job.update(event)
            if not self.started:
                self.live.start()
                self.started = True
            if self.verbose:
                if name != "heartbeat":
                    self._print(Text(plain(event_line(event, self.job.job_dir))))
                self.live.refresh()
                return
            if name == "job_submitted":
                self._print(render.header(self.job))
            elif name == "warning":
                message = plain(str(event.get("message", "")))
                self.console.print(Text("warning: " + message, style="yellow"))
            if self.job.rows and self.columns is None:
                self.columns = render.fit_columns(self.job, self.console.width)
                self._print(Text(render.legend(self.job), style="dim"))
                self._print(render.rows_header(self.columns))
            self._settle(name in ENDS or name == "metrics" and event.get("phase") == "train")
            self.live.refresh()  # each state drawn at least once, not only on the 4/s ticks

    def _print(self, text: Text) -> None:
        if text.overflow == "fold":  # a path: whole over two lines rather than cut on one
            self.console.print(text, crop=True, overflow="fold")
        else:
            self.console.print(text, crop=True, no_wrap=True, overflow="ellipsis")

    def _settle(self, moved_on: bool) -> None:
        """Print the rows that can no longer change; the newest waits in the live area until
        the next step or the end shows whether a checkpoint follows it."""
        done = len(self.job.rows) if moved_on else len(self.job.rows) - 1
        for row in self.job.rows[self.printed : max(self.printed, done)]:
            self._print(self._row(row))
            self.printed += 1

    def _row(self, row: Any) -> Text:
        return render.row_text(row, self.columns or [], self.job.metric)

    def _live(self) -> RenderableType:
        parts: list[RenderableType] = []
        if not self.verbose:
            parts = [self._row(row) for row in self.job.rows[self.printed :]]
        if self.job.end is None:
            parts.append(render.progress_line(self.job, self.console.width))
        return Group(*parts)

    def close(self) -> None:
        with self.lock:
            if not self.verbose:
                self._settle(True)
            if self.started:
                self.live.stop()
                self.started = False

    def finish(self, record: JobRecord, final: str, env: str = "") -> None:
        """After ``close``: the summary, then the final line."""
        for line in render.summary(self.job, record, env) if not self.verbose else []:
            self._print(line)
        self._print(Text(final, style="bold"))
