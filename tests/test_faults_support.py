"""Helpers for the fault-injection tests: start real jobs, watch their files, kill them for real.

(No tests here; the name keeps it among the checkpoint suite's files.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from conftest import PATIENCE, wait_until

ROOT = Path(__file__).resolve().parent.parent

# A short, shuffled run with dropout and 2 loader workers: 3 epochs of 8 steps, a checkpoint every
# 2 steps. Events every step let a test aim a signal at a step.
ARGS = [
    "profile=dev",
    # dev turns torch's deterministic mode off; without it about 2 in 100 uninterrupted runs of
    # this config on CPU end a few ulps apart, and bit-for-bit resume is only promised with it
    "trainer.deterministic=true",
    "devices=cpu",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "data.num_workers=2",
    "data.batch_size=32",
    "model.hidden=[512,512]",  # big enough that a checkpoint write takes a few ms
    "checkpoint.every_n_steps=2",
    "checkpoint.every_n_epochs=1",
    "checkpoint.keep_last=2",
    "events.metrics_every_n_steps=1",
    "events.flush_s=0",  # each step's event written at once: the tests aim signals by them
    "events.heartbeat_s=0",
]
STEPS = 24


class Job:
    """A ``trn run``/``trn resume`` started as a user's shell would, in its own session."""

    def __init__(self, home: Path, *argv: str):
        self.home = home
        self.before = set(runs(home))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trn", *argv, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "TRN_HOME": str(home)},
            start_new_session=True,
        )
        self._dir: Path | None = None

    @property
    def dir(self) -> Path:
        if self._dir is None:
            wait_until(lambda: set(runs(self.home)) - self.before or self.exited(), "job dir")
            new = set(runs(self.home)) - self.before
            assert new, self.finish_text()
            self._dir = new.pop()
        return self._dir

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def record(self) -> dict[str, Any]:
        return json.loads((self.dir / "job.json").read_text())

    def wait_step(self, step: int) -> None:
        """Until the runner has reported finishing optimizer step ``step``."""
        wait_until(lambda: self.step() >= step or self.exited(), f"step {step}")
        assert not self.exited(), f"finished before step {step}: {self.finish_text()}"

    def step(self) -> int:
        try:
            lines = (self.dir / "events.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return -1
        steps = [json.loads(ln).get("step", -1) for ln in lines if '"metrics"' in ln]
        return max(steps, default=-1)

    def freeze_in_save(self, pattern: str = ".tmp-*.ckpt", retry: bool = True) -> bool:
        """Stop the runner (SIGSTOP to its group) while a checkpoint matching ``pattern`` is half
        written. Seeing the ``.tmp-`` file is not enough: the write may finish before a signal
        lands. So stop first, then look again; if the rename won the race, let the runner go on
        and catch its next save (``retry``). Returns whether it is frozen inside a write; False
        when the job ended first (or, without ``retry``, when the one chance was missed)."""
        runner = wait_until(lambda: self.runner_pid() or self.exited(), "the runner")
        while True:
            wait_until(lambda: self._tmp(pattern) or self.exited(), pattern, every=0.0005)
            if self.exited():
                return False
            os.killpg(runner, signal.SIGSTOP)
            wait_until(lambda: stopped(runner), "the runner to stop", every=0.0005)
            if self._tmp(pattern):
                return True
            if not retry:
                return False
            os.killpg(runner, signal.SIGCONT)

    def runner_pid(self) -> int | None:
        try:
            return self.record().get("runner_pid")
        except FileNotFoundError:  # the job dir is made before its record
            return None

    def _tmp(self, pattern: str) -> bool:
        return any((self.dir / "checkpoints").glob(pattern))

    def sigkill_all(self) -> None:
        """What a crash does: supervisor and runner (with its loader workers) die at once."""
        runner = self.record().get("runner_pid")
        os.kill(self.proc.pid, signal.SIGKILL)
        if runner:
            try:
                os.killpg(runner, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(PATIENCE)

    def finish(self, timeout: float = PATIENCE) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        assert out.strip(), f"no record on stdout (rc {self.proc.returncode}): {err[-3000:]}"
        return json.loads(out)

    def finish_text(self) -> str:
        if not self.exited():
            return "(still running)"
        out, err = self.proc.communicate()
        return f"rc {self.proc.returncode}: {out[-500:]} {err[-3000:]}"


def runs(home: Path) -> list[Path]:
    return sorted((home / "runs").glob("*/*/*/*"))


def stopped(pid: int) -> bool:
    """Every thread of ``pid`` is stopped (or gone): nothing of it can still touch the disk."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue
    return all(s in "TtZX" for s in states)


def tmp_ckpt(job_dir: Path) -> bool:
    return any((job_dir / "checkpoints").glob(".tmp-*.ckpt"))


def final_state(meta_path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint that decides the rest of training: weights and optimizer."""
    from trn.checkpoints.load import load_checkpoint

    _, ckpt = load_checkpoint(meta_path)
    tensors = {f"model/{k}": v for k, v in ckpt["state_dict"].items()}
    for i, opt in enumerate(ckpt["optimizer_states"]):
        for pid, state in opt["state"].items():
            tensors.update({f"opt{i}/{pid}/{k}": v for k, v in state.items()})
    return tensors


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k]))]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def effective_state(home: Path, job_id: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "status", job_id, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TRN_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["state"]
