"""Shared fixtures: a private $TRN_HOME per test, and ways to call the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def trn_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty $TRN_HOME for this test (also inherited by subprocesses)."""
    home = tmp_path / "trn-home"
    monkeypatch.setenv("TRN_HOME", str(home))
    return home


@pytest.fixture
def cli(capsys):
    """Call ``trn`` in-process: ``code, out, err = cli("list", "--json")``."""
    from trn.cli.main import main

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def run_trn(*argv: str, env: dict[str, str] | None = None, timeout: float = 300,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m trn ARGV`` as a real process (what a user's shell does)."""
    return subprocess.run(
        [sys.executable, "-m", "trn", *argv], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=cwd or ROOT,
    )


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# Settings that shrink the real composed config to a seconds-long CPU run.
FAST = ["profile=dev", "devices=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=1"]
