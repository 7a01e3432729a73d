"""``trn run -m`` in a terminal: one live table of the sweep's jobs (state, progress, objective,
the overrides that vary), best finished job first, redrawn in place."""

from __future__ import annotations

import time
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from trn.cli.console import render
from trn.cli.console.sweep_state import SweepState
from trn.text import _num, fmt_duration

STYLE = {
    "completed": "green",
    "running": "cyan",
    "failed": "red",
    "cancelled": "yellow",
    "pruned": "magenta",
}


class SweepView:
    def __init__(self, stream: TextIO, state: SweepState, width: int, height: int):
        self.console = Console(file=stream, highlight=False, width=width, height=height)
        self.state = state
        self.live = Live(
            console=self.console,
            get_renderable=self.render,
            refresh_per_second=4,
            transient=True,  # the summary table replaces it at the end
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def render(self) -> RenderableType:
        state = self.state
        metric = state.objective.get("metric") or "objective"
        counts = state.counts()
        done = sum(v for k, v in counts.items() if k not in ("running", "waiting", "submitted"))
        planned = state.planned or len(state.jobs)
        title = Text(f"sweep {state.sweep_id or '...'}", style="bold")
        if state.started_at is not None:  # the sweep's own clock, not its jobs' sum
            title.append(f"  {fmt_duration(time.time() - state.started_at)}")
        title.append(f"  {done}/{planned} done")
        counts["queued"] = planned - len(state.jobs)
        for name in ("running", "waiting", "queued", "pruned", "failed", "cancelled"):
            if counts.get(name, 0) > 0:
                title.append(f"  {counts[name]} {name}", style=STYLE.get(name, ""))
        title.overflow, title.no_wrap = "ellipsis", True
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
        table.add_column("JOB", no_wrap=True)
        table.add_column("STATE", no_wrap=True)
        table.add_column("PROGRESS", no_wrap=True, min_width=8)
        mode = state.objective.get("mode", "max")
        table.add_column(f"{metric} ({mode})", justify="right", no_wrap=True)
        table.add_column("TIME", justify="right", no_wrap=True)
        table.add_column("OVERRIDES", overflow="ellipsis", no_wrap=True)
        jobs = state.ordered()
        room = max(1, self.console.height - 4)
        for job in jobs[:room]:
            value = state.value(job)
            table.add_row(
                job.job_id or "?",
                Text(job.state, style=STYLE.get(job.state, "")),
                self._progress(job),
                "-" if value is None else _num(value),
                "-" if job.elapsed() is None else fmt_duration(job.elapsed() or 0.0),
                state.varying(job),
            )
        more = [Text(f"... and {len(jobs) - room} more", style="dim")] if len(jobs) > room else []
        return Group(title, table, *more)

    @staticmethod
    def _progress(job: Any) -> RenderableType:
        if job.total and job.state == "running":  # text, not a bar: it reads the same in a log
            done = min(1.0, job.step / job.total)
            return Text(f"{done:4.0%} ep {render.epochs(job).removeprefix('epoch ')}")
        if job.end is not None and job.rows:
            return Text(f"{len(job.rows)} epochs")
        return Text("-")
