"""A DDP rank that never joins: the job ends ``failed`` naming it after ``devices.join_timeout_s``,
and a stop signal meanwhile ends it at once (torch's rendezvous blocks, deaf to signals, for as
long as its own timeout: half an hour).

A user's project whose rank 1 hangs while importing the model (as on a node whose filesystem
hangs); rank 0 starts it (Lightning's DDP launcher) and waits for it in the rendezvous.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import userproject
from conftest import PATIENCE, run_trn

from trn.registry.store import Registry

pytestmark = pytest.mark.slow

STALL = """
import os
import time

from userpkg.models import Regressor

if os.environ.get("LOCAL_RANK", "0") != "0":  # this rank hangs here: it never joins
    with open(os.environ["STALL_PIDS"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(3600)


class Stalled(Regressor):
    pass
"""


@pytest.fixture
def project(tmp_path: Path, trn_home: Path, monkeypatch) -> Path:
    root = userproject.write(tmp_path / "proj")
    (root / "stallpkg").mkdir()
    (root / "stallpkg" / "__init__.py").write_text("")
    (root / "stallpkg" / "models.py").write_text(textwrap.dedent(STALL).lstrip())
    monkeypatch.setenv("PYTHONPATH", userproject.pythonpath(root))
    monkeypatch.setenv("STALL_PIDS", str(tmp_path / "stalled.pids"))
    return root


def overrides() -> list[str]:
    ours = [a for a in userproject.overrides() if not a.startswith(("+model", "allow_targets"))]
    return [
        "profile=dev",
        "devices=cpu",
        "devices.processes=2",
        "trainer.max_epochs=1",
        *ours,
        "+model._target_=stallpkg.models.Stalled",
        "allow_targets=[stallpkg.,userpkg.]",
    ]


def stalled(tmp_path: Path) -> list[int]:
    path = tmp_path / "stalled.pids"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def assert_gone(pids: list[int]) -> None:
    """The hung rank does not outlive its job (polled: its group's SIGKILL takes a moment)."""
    deadline = time.monotonic() + PATIENCE
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.2)
    assert alive == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False


def test_a_rank_that_never_joins_fails_the_job_naming_it(project, trn_home, tmp_path) -> None:
    proc = run_trn("run", "--json", *overrides(), "devices.join_timeout_s=15", cwd=project)
    assert proc.returncode == 1, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "failed"
    assert record["error"].startswith(
        "rank 1 of 2 never joined within 15s (devices.join_timeout_s)"
    )
    assert (Path(record["job_dir"]) / "ranks" / "0").exists()  # rank 0 did arrive
    assert stalled(tmp_path)  # the rank really hung (not a crash) ...
    assert_gone(stalled(tmp_path))  # ... and is gone with its job


def test_sigterm_while_the_ranks_join_ends_the_job_at_once(project, trn_home, tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "--json", *overrides()],  # joining: up to 300s
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRN_HOME": str(trn_home)},
    )
    try:
        deadline = time.monotonic() + PATIENCE
        while not (stalled(tmp_path) and list(trn_home.glob("runs/*/*/*/*/ranks/0"))):
            assert time.monotonic() < deadline and proc.poll() is None, "rank 0 never waited"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        proc.kill()
    record = json.loads(out)
    assert record["state"] == "preempted", err[-3000:]
    # the watch ended it, not the supervisor's SIGKILL after the grace period
    assert record["error"] == "received SIGTERM while the ranks were joining"
    assert Registry.read(Path(record["job_dir"]))["state"] == "preempted"
    assert_gone(stalled(tmp_path))
