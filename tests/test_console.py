"""The console: what a person watching ``trn run`` / ``trn run -m`` sees in a terminal, driven
in a real pseudo-terminal (tmux, 100x30), and the views' pieces fed with events."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import FAST
from terminal import Terminal

from trn.cli.progress import PlainLines
from trn.registry.record import JobRecord
from trn.text import short_path

EPOCHS = [*FAST[:-3], "trainer.max_epochs=5", "trainer.limit_train_batches=4"]
EPOCHS += ["trainer.limit_val_batches=1", "checkpoint.every_n_epochs=2"]


@pytest.fixture
def terminal(tmp_path):
    term = Terminal(tmp_path)
    yield term
    term.close()


def test_trn_run_in_a_terminal_is_a_header_a_row_per_epoch_and_a_summary(
    trn_home, terminal, tmp_path
):
    terminal.start(["run", *EPOCHS], cwd=tmp_path)
    assert terminal.wait() == 0
    lines = [ln for ln in terminal.screen(history=True) if ln.strip()]
    assert all(len(ln) <= 100 for ln in lines), [ln for ln in lines if len(ln) > 100]
    rows = [ln for ln in lines if re.match(r"^\s+\d+\s+\d+\s", ln)]
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4, 5]  # one row per epoch, in order
    assert len(lines) <= len(rows) + 8, lines  # header, legend, column names, summary
    assert lines[0].startswith("job ") and "devices cpu" in lines[0]
    assert "checkpoint_saved" not in "\n".join(lines)  # a mark on the row, no line of its own
    saved = [r for r in rows if r.rstrip().endswith("ckpt")]
    assert len(saved) >= 2 and rows[1] in saved and rows[-1] in saved  # every 2nd + the end
    # keep_last=1, no save_best: the job dir holds one checkpoint, the last, and the summary
    # names it (not the best printed row's, deleted since)
    at = [i for i, ln in enumerate(lines) if ln.startswith(("last checkpoint", "best checkpoint"))]
    assert len(at) == 1 and lines[at[0]].startswith("last checkpoint (step 20)")
    path, more = lines[at[0]].removeprefix("last checkpoint (step 20)").strip(), at[0] + 1
    while not path.endswith(".ckpt"):  # folded at the terminal's width, never cut
        path, more = path + lines[more].strip(), more + 1
    ckpt = tmp_path / path  # relative to the working dir, and it exists
    assert ckpt.is_file() and ckpt.suffix == ".ckpt"
    assert lines[-1].startswith("job ") and " completed: " in lines[-1]
    assert any(ln.startswith("next: ") and "trn plot " in ln for ln in lines)


def test_trn_run_quiet_prints_only_the_final_line(trn_home, terminal, tmp_path):
    terminal.start(["run", "-q", *FAST], cwd=tmp_path)
    assert terminal.wait() == 0
    lines = [ln for ln in terminal.screen(history=True) if ln.strip()]
    assert len(lines) == 1 and re.match(r"job \S+ completed: ", lines[0]), lines


def test_trn_run_m_in_a_terminal_is_one_live_table_then_the_summary(trn_home, terminal, tmp_path):
    import time

    # jobs of a few seconds, so the live table is sampled while they run
    fast = [*FAST[:-3], "trainer.max_epochs=30", "trainer.limit_train_batches=8"]
    terminal.start(["run", "-m", *fast, "optimizer.lr=0.001,0.1"], cwd=tmp_path)
    live: list[str] = []
    while not terminal.done.exists():
        screen = terminal.screen()
        if any(" running " in ln for ln in screen) and any("OVERRIDES" in ln for ln in screen):
            live = screen
        time.sleep(0.3)
    assert terminal.wait() == 0
    assert live, "the live table never showed a running job"
    assert live[0].startswith("sweep ") and all(len(ln) <= 100 for ln in live)
    assert any("optimizer.lr=" in ln for ln in live)  # the override that varies
    lines = [ln for ln in terminal.screen(history=True) if ln.strip()]
    assert all(len(ln) <= 100 for ln in lines)
    assert not any(re.match(r"^\[\d+\] ", ln) for ln in lines)  # no interleaved job lines
    assert re.match(r"sweep \S+ completed in [\d.]+s: 2 completed", lines[-4]), lines
    assert [ln.split()[2] for ln in lines[-2:]] == ["completed", "completed"]
    assert len(lines) <= 6, lines


def _feed(
    events: list[dict], width: int = 100, verbose: bool = False, record: JobRecord | None = None
) -> list[str]:
    """What the run view prints for these events (the live area itself is transient)."""
    from rich.console import Console

    from trn.cli.console.run_view import RunView

    out = io.StringIO()
    view = RunView(out, {"metric": "val/f1", "mode": "min"}, verbose)
    view.console = Console(file=out, width=width, highlight=False, color_system=None)
    view.live.console = view.console
    for event in events:
        view(event)
    view.close()
    # the job dir is the one its events named (job_submitted), as for `trn logs -f`
    view.finish(record or JobRecord("j1", "", state="completed"), "job j1 completed: x")
    return out.getvalue().splitlines()


def _job(
    metrics: list[dict], ckpt_steps: tuple[int, ...] = (), job_dir: str = "/x/runs/j1"
) -> list[dict]:
    base = {"ts": "2026-11-28T15:20:48.123Z", "job_id": "j1"}
    events = [
        {**base, "event": "job_submitted", "devices": ["cpu"], "job_dir": job_dir},
        {**base, "event": "job_started", "max_epochs": len(metrics), "total_steps": 10},
    ]
    for i, m in enumerate(metrics):
        step = 2 * (i + 1)
        events.append({**base, "event": "metrics", "phase": "train", "step": step, "epoch": i,
                       "metrics": {"train/nll": 1.0 / step}})  # fmt: skip
        events.append({**base, "event": "metrics", "phase": "epoch", "step": step, "epoch": i,
                       "metrics": m})  # fmt: skip
        if step in ckpt_steps:
            events.append({**base, "event": "checkpoint_saved", "step": step, "epoch": i + 1,
                           "path": f"{job_dir}/checkpoints/s{step}.ckpt",
                           "meta_path": f"{job_dir}/checkpoints/s{step}.meta.json",
                           "metrics": m})  # fmt: skip
    events.append({**base, "event": "warning", "message": "event sink redis failed"})
    events.append({**base, "event": "job_completed", "duration_s": 3.0, "metrics": metrics[-1]})
    return events


def _saved(job_dir: Path, metas: dict[str, dict], latest: str, best: str | None = None) -> None:
    """A job dir's committed checkpoints as the runner leaves them: metas, latest.json,
    best.json (the .ckpt files themselves are not read by a summary)."""
    folder = job_dir / "checkpoints"
    folder.mkdir(parents=True)
    for name, meta in metas.items():
        (folder / f"{name}.meta.json").write_text(json.dumps({"ckpt": f"{name}.ckpt", **meta}))
    (folder / "latest.json").write_text(json.dumps({"meta": f"{latest}.meta.json"}))
    if best:
        (folder / "best.json").write_text(json.dumps({"meta": f"{best}.meta.json"}))


def test_rows_are_the_metrics_the_module_logs_with_its_own_objective_and_checkpoints(tmp_path):
    job_dir = tmp_path / "j1"
    _saved(
        job_dir,
        {"s4": {"step": 4, "epoch": 1, "metrics": {"val/f1": 0.3}}, "s6": {"step": 6, "epoch": 2}},
        latest="s6",
        best="s4",
    )
    metrics = [{"val/f1": 0.5}, {"val/f1": 0.3}, {"val/f1": 0.4}]
    lines = _feed(_job(metrics, ckpt_steps=(4, 6), job_dir=str(job_dir)), width=300)
    head = next(ln for ln in lines if "epoch" in ln and "step" in ln and "val/f1" in ln)
    assert "train/loss" not in "\n".join(lines)  # nothing assumed about names
    rows = [ln for ln in lines if re.match(r"^\s+\d+\s+\d+\s", ln)]
    assert len(rows) == 3 and head
    assert [("*" in r, r.endswith("ckpt")) for r in rows] == [
        (True, False),  # the first value is the best so far
        (True, True),  # mode min: 0.3 is better; saved at its step
        (False, True),
    ]
    assert "warning: event sink redis failed" in lines
    saved = job_dir / "checkpoints"  # shown as short_path shows any path: relative to the cwd
    assert f"best checkpoint {short_path(str(saved / 's4.ckpt'))}" in lines  # the best, and
    assert f"last checkpoint (step 6) {short_path(str(saved / 's6.ckpt'))}" in lines  # the last


def test_the_summary_names_what_the_job_dir_holds_not_what_was_printed(tmp_path):
    # the best printed checkpoint (s4) was deleted by keep_last; a stop checkpoint came last
    job_dir = tmp_path / "j1"
    _saved(job_dir, {"e002-s0000029-stop": {"step": 29, "epoch": 2}}, latest="e002-s0000029-stop")
    events = _job([{"val/f1": 0.5}, {"val/f1": 0.3}], ckpt_steps=(4,), job_dir=str(job_dir))
    lines = _feed(
        events[:-1],
        record=JobRecord("j1", "", state="cancelled", error="received SIGINT"),
        width=300,
    )
    ckpts = [ln for ln in lines if ln.startswith(("best checkpoint", "last checkpoint"))]
    stop = short_path(str(job_dir / "checkpoints" / "e002-s0000029-stop.ckpt"))
    assert ckpts == [f"last checkpoint (step 29) {stop}"]
    assert "stopped by Ctrl-C or trn cancel" in lines  # a cancel, not an error
    assert not any(ln.startswith("error:") for ln in lines)


def test_many_metrics_never_make_a_line_wider_than_the_terminal():
    wide = {f"val/metric_with_a_long_name_{i}": i / 7 for i in range(12)}
    lines = _feed(_job([{**wide, "val/f1": 0.5}, {**wide, "val/f1": 0.2}]), width=60)
    assert lines and all(len(ln) <= 60 for ln in lines)
    assert any("val/f1" in ln for ln in lines)  # the objective's column comes first


def test_plain_lines_name_the_job_dir_once_and_checkpoints_relative_to_it():
    out = io.StringIO()
    echo = PlainLines(out)
    for event in _job([{"val/f1": 0.5}], ckpt_steps=(2,)):
        echo(event)
    text = out.getvalue()
    assert text.count("/x/runs/j1") == 1 and "step 2 checkpoints/s2.meta.json" in text
    assert not any(ord(c) < 32 and c != "\n" for c in text)


def test_the_read_commands_do_not_import_rich(trn_home):
    import subprocess
    import sys

    code = (
        "import sys; from trn.cli.main import main; main(['list']); main(['events']);"
        "assert 'rich' not in sys.modules, 'rich imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_trn_logs_follow_in_a_terminal_draws_the_run_view(trn_home, terminal, tmp_path):
    import os

    from trn.events.writer import EventWriter
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

    registry = Registry(trn_home)
    job_id, job_dir = registry.create_job_dir()
    registry.write(
        JobRecord(job_id=job_id, job_dir=str(job_dir), state="completed", pid=os.getpid())
    )
    writer = EventWriter(job_dir, job_id, source="runner", global_path=trn_home / "events.jsonl")
    for event in _job([{"val/f1": 0.5}, {"val/f1": 0.25}], ckpt_steps=(4,)):
        fields = {k: v for k, v in event.items() if k not in ("ts", "job_id", "event")}
        if event["event"] == "job_submitted":
            fields["job_dir"] = str(job_dir)
        writer.emit(event["event"], **fields)
    writer.close()
    terminal.start(["logs", "-f", job_id], cwd=tmp_path)
    assert terminal.wait() == 0
    lines = [ln for ln in terminal.screen(history=True) if ln.strip()]
    assert all(len(ln) <= 100 for ln in lines)
    rows = [ln for ln in lines if re.match(r"^\s+\d+\s+\d+\s", ln)]
    assert len(rows) == 2 and rows[1].rstrip().endswith("ckpt")
    assert lines[-1] == f"job {job_id} completed: {os.path.relpath(job_dir, tmp_path)}"


def test_the_sweep_table_follows_its_own_sweep_best_finished_job_first():
    from trn.cli.console.sweep_state import SweepState

    state = SweepState(pid=42)
    sweep = {"event": "sweep_started", "pid": 42, "sweep_id": "s1", "jobs": 3}
    objective = {"metric": "val/loss", "mode": "min"}
    state.update({**sweep, "pid": 7, "sweep_id": "other", "objective": objective})
    overrides = ["optimizer.lr=0.1,0.01", "model=mlp"]
    state.update({**sweep, "objective": objective, "overrides": overrides})

    def job(job_id: str, lr: str, sweep_id: str = "s1") -> None:
        state.update({"event": "job_submitted", "job_id": job_id, "sweep_id": sweep_id,
                      "overrides": [f"optimizer.lr={lr}", "model=mlp"], "devices": ["cpu"]})  # fmt: skip

    def end(job_id: str, loss: float) -> None:
        state.update({"event": "job_completed", "job_id": job_id, "sweep_id": "s1",
                      "duration_s": 1.0, "metrics": {"val/loss": loss}})  # fmt: skip

    job("a", "0.1")
    job("b", "0.01")
    job("c", "0.001")
    job("x", "1", sweep_id="other")  # another sweep's job: not ours
    state.update({"event": "job_started", "job_id": "c", "sweep_id": "s1", "total_steps": 8})
    end("a", 0.5)
    end("b", 0.2)
    assert state.sweep_id == "s1" and set(state.jobs) == {"a", "b", "c"}
    assert [j.job_id for j in state.ordered()] == ["b", "a", "c"]  # min: 0.2 first; running last
    assert state.varying(state.jobs["a"]) == "optimizer.lr=0.1"  # model=mlp does not vary


def test_verbose_prints_every_event_as_a_line_and_no_rows():
    events = _job([{"val/f1": 0.5}, {"val/f1": 0.3}], ckpt_steps=(4,))
    lines = _feed(events, verbose=True)
    names = [ln.split()[1] for ln in lines if re.match(r"^\d\d:\d\d:\d\d ", ln)]
    assert names == [e["event"] for e in events]
    assert "step 4 checkpoints/s4.meta.json" in "\n".join(lines)  # relative to the job dir
    assert not any(ln.startswith("best checkpoint") for ln in lines)  # the lines, then the end


def test_a_resumed_runs_header_says_from_which_job_and_step():
    events = _job([{"val/f1": 0.5}])
    events[0] = {**events[0], "parent_job_id": "261128-1520-ab12", "resumed_from_step": 92}
    lines = _feed(events)
    assert any(
        ln.startswith("job j1") and "resumed from 261128-1520-ab12 at step 92" in ln for ln in lines
    ), lines
