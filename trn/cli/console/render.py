"""Renderers the live views share: the progress line, validation rows, the end summary."""

from __future__ import annotations

from rich.console import RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from trn.cli.console.state import JobState, Row
from trn.jobdir import JobDir
from trn.registry.record import JobRecord
from trn.registry.thin import saved
from trn.text import _num, fmt_duration, short_path

MIN_CELL = 9  # a metric column: room for "-0.0001234" style numbers and the best mark


def epochs(job: JobState) -> str:
    total = f"/{job.max_epochs}" if job.max_epochs and job.max_epochs > 0 else ""
    return f"epoch {job.epoch + 1}{total}"


def stats(job: JobState) -> str:
    """``12/40  3.1 it/s  ETA 0:09  train/loss 1.97``: what follows the bar."""
    parts = [f"{job.step}/{job.total}" if job.total else f"step {job.step}"]
    rate, eta = job.rate(), job.eta()
    if rate:
        parts.append(f"{rate:.3g} it/s")
    parts.append(f"ETA {fmt_duration(eta)}" if eta is not None else "ETA ?")
    if job.loss:
        parts.append(f"{job.loss[0]} {job.loss[1]:.4g}")
    return "  ".join(parts)


def progress_line(job: JobState, width: int) -> RenderableType:
    """One line: epoch, a bar (when it fits), step/total, it/s, ETA, the latest train loss."""
    if job.state in ("submitted", "waiting") and not job.step:
        note = "waiting for devices" if job.state == "waiting" else "starting the runner"
        return Text(f"{note} ...", style="dim", overflow="ellipsis", no_wrap=True)
    left, right = epochs(job), stats(job)
    bar = min(30, width - len(left) - len(right) - 4)
    if not job.total or bar < 6:
        return Text(f"{left}  {right}", overflow="ellipsis", no_wrap=True)
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        Text(left, style="bold"),
        ProgressBar(total=job.total, completed=min(job.step, job.total), width=bar),
        Text(right, overflow="ellipsis", no_wrap=True),
    )
    return grid


def fit_columns(job: JobState, width: int) -> list[str]:
    """The validation metrics whose columns fit in ``width`` (the objective first)."""
    used, keep = 5 + 2 + 8 + 2 + 5, []  # epoch, step and the checkpoint mark
    for key in job.columns():
        cell = max(len(key), MIN_CELL) + 2
        if used + cell > width:
            break
        keep.append(key)
        used += cell
    return keep


def _cell(key: str) -> int:
    return max(len(key), MIN_CELL)


def rows_header(columns: list[str]) -> Text:
    head = f"{'epoch':>5}  {'step':>8}" + "".join(f"  {k:>{_cell(k)}}" for k in columns)
    return Text(head, style="bold", overflow="ellipsis", no_wrap=True)


def row_text(row: Row, columns: list[str], metric: str | None) -> Text:
    text = Text(f"{row.epoch:>5}  {row.step:>8}", overflow="ellipsis", no_wrap=True)
    for key in columns:
        value = row.metrics.get(key)
        cell = "-" if value is None else _num(value)
        if key == metric and row.best:
            text.append(f"  {cell + ' *':>{_cell(key)}}", style="bold green")
        else:
            text.append(f"  {cell:>{_cell(key)}}")
    if row.saved:
        text.append("  ckpt", style="cyan")
    return text


def legend(job: JobState) -> str:
    metric = job.metric or "objective"
    return f"* new best {metric} ({job.mode}); ckpt: a checkpoint was saved"


def header(job: JobState) -> Text:
    devices = ",".join(job.devices) or "?"
    where = short_path(job.job_dir) if job.job_dir else "?"
    text = Text("job ", style="bold")
    text.append(str(job.job_id), style="bold cyan")
    parent, step = job.resumed
    if parent:  # said first: the rows below continue an earlier attempt
        text.append(f"  resumed from {parent}" + ("" if step is None else f" at step {step}"))
    text.append(f"  devices {devices}  dir {where}")
    text.overflow, text.no_wrap = "ellipsis", True
    return text


STOPPED = {  # what a stopped job's reason means to the person who stopped it
    "received SIGINT": "stopped by Ctrl-C or trn cancel",
    "received SIGTERM": "stopped by SIGTERM (a preemption, or a kill)",
    "received SIGUSR1": "stopped by SIGUSR1 (the scheduler's notice before its time limit)",
}


def summary(job: JobState, record: JobRecord, env: str = "") -> list[Text]:
    """State and duration, the best objective and the checkpoints, what to run next. The
    checkpoints are those the job dir holds (``latest.json``, ``best.json``), not the last ones
    printed: keep_last may have deleted those since."""
    state = record.state
    style = {"completed": "bold green", "failed": "bold red"}.get(state, "bold yellow")
    duration = (job.end or {}).get("duration_s")
    first = Text(state, style=style)
    if duration is not None:
        first.append(f" in {fmt_duration(duration)}")
    folder = JobDir(record.job_dir or job.job_dir or ".").checkpoints
    latest, best = saved(folder, JobDir.LATEST), saved(folder, JobDir.BEST)
    best_value = best.metrics.get(job.metric) if best and job.metric else None
    if best is not None and best_value is not None:
        first.append(f"  best {job.metric} {_num(best_value)} at epoch {best.epoch}")
    elif job.best_row is not None:
        first.append(f"  best {job.metric} {_num(job.best)} at epoch {job.best_row.epoch}")
    lines = [first]
    error = str(record.error or "").splitlines()
    if state in ("cancelled", "preempted") and error:
        lines.append(Text(STOPPED.get(error[0], error[0]), style="yellow"))
    elif state != "completed" and error:
        lines.append(Text("error: " + error[0], style="red"))
    # a path cut short is no use: these lines fold at the terminal's width instead
    paths = []
    if best is not None:
        also = " (also the last)" if latest is not None and best.meta == latest.meta else ""
        paths.append(f"best checkpoint{also} {short_path(str(best.ckpt))}")
    if latest is not None and (best is None or best.meta != latest.meta):
        at = f" (step {latest.step})" if latest.step is not None else ""
        paths.append(f"last checkpoint{at} {short_path(str(latest.ckpt))}")
    if not paths and record.checkpoint:  # a dir without latest.json: the record's word
        paths.append(f"last checkpoint {short_path(record.checkpoint)}")
    ckpt = latest or best or record.checkpoint
    job_id = record.job_id
    resume = f"{env}trn resume {job_id}" + (" trainer.max_epochs=N" if state == "completed" else "")
    nexts = [f"{env}trn plot {job_id}", resume] if ckpt else [f"{env}trn logs {job_id} --log"]
    lines.append(Text("next: " + "   ".join(nexts), style="dim"))
    for line in lines:
        line.overflow, line.no_wrap = "ellipsis", True
    return lines[:-1] + [Text(p, overflow="fold") for p in paths] + lines[-1:]
