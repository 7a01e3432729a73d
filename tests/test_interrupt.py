"""Ctrl-C at any moment of a command: one line, ``interrupted``, exit 130, never a traceback; and
never a job left half made (a job that exists when the Ctrl-C lands ends ``cancelled``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, PATIENCE, ROOT

from trn.registry.store import Registry

pytestmark = pytest.mark.slow

# The program as the console script runs it, with its SIGINT handler in place before `ready`:
# from the first instruction of trn.cli.program on, every moment is covered. (Before it, the
# interpreter itself is starting: a Ctrl-C there, some 30 ms after Enter, is Python's own.)
PROGRAM = (
    "import signal, sys, trn.cli as c; signal.signal(signal.SIGINT, c._on_sigint); "
    "print('ready', flush=True); sys.argv = ['trn', *sys.argv[1:]]; c.program()"
)


def interrupt_at(argv: list[str], at: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(at)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=PATIENCE)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def points(argv: list[str], env: dict[str, str], n: int) -> list[float]:
    """``n`` moments spread over an uninterrupted run of ``argv`` (its duration measured here,
    on this machine as busy as it is now)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "trn", *argv], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=PATIENCE,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    took = time.monotonic() - started
    return [took * (i + 0.5) / n for i in range(n)]


def assert_interrupted_cleanly(proc: subprocess.CompletedProcess, command: str) -> None:
    assert proc.returncode in (0, 130), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 130:  # before a job existed: one line; after: the job's own end
        said = (proc.stderr.strip().splitlines() or [""])[-1]
        ended = (proc.stdout.strip().splitlines() or [""])[-1]
        assert said in (f"{command}: interrupted", "trn: interrupted") or re.match(
            r"job \S+ cancelled: ", ended
        ), (proc.stdout[-500:], proc.stderr[-500:])


def test_ctrl_c_anywhere_in_planning_is_one_line_and_leaves_nothing(trn_home):
    env = {**os.environ, "TRN_HOME": str(trn_home)}
    argv = ["run", "--dry-run", *FAST]
    for at in points(argv, env, 12):
        proc = interrupt_at(argv, at, env)
        assert_interrupted_cleanly(proc, "trn run")
        assert proc.returncode == 0 or len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (trn_home / "runs").exists()  # a dry run makes nothing, interrupted or not


def test_ctrl_c_anywhere_in_a_run_ends_any_job_it_made_cancelled(trn_home):
    env = {**os.environ, "TRN_HOME": str(trn_home)}
    argv = ["run", *FAST, "trainer.max_epochs=2"]
    for at in points(argv, env, 10):
        proc = interrupt_at(argv, at, env)
        assert_interrupted_cleanly(proc, "trn run")
    records = Registry(trn_home).list(limit=None) if (trn_home / "runs").exists() else []
    made = {r.job_id: r.state for r in records}
    assert set(made.values()) <= {"cancelled", "completed"}, made  # none submitted or running
    for record in records:  # and each whole: its record, its config, its terminal event
        job_dir = Path(record.job_dir)
        assert (job_dir / "config.yaml").exists()
        last = json.loads((job_dir / "events.jsonl").read_text().splitlines()[-1])
        assert last["event"] == f"job_{record.state}"
