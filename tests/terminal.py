"""A real pseudo-terminal for console tests: a command in a detached tmux session of a given
size, its screen (and scrollback) captured as text."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PATIENCE


class Terminal:
    def __init__(self, tmp: Path, columns: int = 100, lines: int = 30):
        if not shutil.which("tmux"):
            pytest.skip("needs tmux on PATH")
        self.socket = f"trn-test-{os.getpid()}-{id(self)}"  # our own server: no shared state
        self.columns, self.lines, self.done = columns, lines, tmp / "terminal.rc"

    def tmux(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, *args]
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout

    def start(self, argv: list[str], cwd: Path) -> None:
        """``python -m trn ARGV`` in the terminal, with this test's environment."""
        line = shlex.join([sys.executable, "-m", "trn", *argv])
        script = f"{line}; echo $? > {shlex.quote(str(self.done))}; sleep 600"
        env = [f"{k}={v}" for k, v in os.environ.items() if k in ("PYTHONPATH", "TRN_HOME")]
        size = ["-x", str(self.columns), "-y", str(self.lines)]
        self.tmux(
            "new-session", "-d", "-s", "t", *size, *sum((["-e", e] for e in env), []),
            "-c", str(cwd), script,
        )  # fmt: skip

    def screen(self, history: bool = False) -> list[str]:
        text = self.tmux("capture-pane", "-p", "-t", "t", *(["-S", "-1000"] if history else []))
        return text.rstrip("\n").split("\n")

    def wait(self, timeout: float = PATIENCE) -> int:
        deadline = time.monotonic() + timeout
        while not self.done.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"still running after {timeout}s:\n" + "\n".join(self.screen()))
            time.sleep(0.25)
        time.sleep(0.2)
        return int(self.done.read_text())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
