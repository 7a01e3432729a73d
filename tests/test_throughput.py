"""Training speed as a first-class metric: samples/s in the step events, shown by `trn status`,
and a warning when a job's speed falls far below its own first minutes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from conftest import PATIENCE, read_events, run_trn, wait_until
from project_files import PACKAGE, make_project

from trn.runner.throughput import ThroughputWatch


def feed(watch: ThroughputWatch, rates: list[tuple[float, float]]) -> list:
    return [d for t, r in rates if (d := watch.feed(t, r)) is not None]


def steady(start: float, end: float, rate: float, every: float = 1.0) -> list[tuple[float, float]]:
    out, t = [], start
    while t < end:
        out.append((t, rate))
        t += every
    return out


def test_a_steady_job_is_never_warned_and_noise_is_not_a_drop():
    watch = ThroughputWatch(warmup_s=10, baseline_s=60, window_s=30)
    rates = steady(0, 600, 1000.0)
    rates[200] = (rates[200][0], 100.0)  # one slow step (a checkpoint, a GC pass)
    assert feed(watch, rates) == []
    assert watch.baseline == 1000.0


def test_a_sustained_drop_is_said_once_and_again_after_a_recovery():
    watch = ThroughputWatch(ratio=0.5, warmup_s=10, baseline_s=60, window_s=30)
    warmup = steady(0, 10, 50.0)  # compiling, filling caches: not the job's pace
    drops = feed(watch, warmup + steady(10, 100, 1000.0) + steady(100, 200, 300.0))
    assert len(drops) == 1 and drops[0].baseline == 1000.0 and drops[0].samples_per_s == 300.0
    assert "0.30x its first minutes' 1000" in drops[0].message()
    assert feed(watch, steady(200, 300, 950.0)) == []  # recovered: nothing to say
    again = feed(watch, steady(300, 400, 200.0))
    assert [d.samples_per_s for d in again] == [200.0]


def test_a_short_dip_is_no_trend_and_ratio_zero_turns_it_off():
    watch = ThroughputWatch(ratio=0.5, warmup_s=0, baseline_s=60, window_s=30)
    dip = steady(60, 70, 100.0)  # 10 s, shorter than half the window's median can carry
    assert feed(watch, steady(0, 60, 1000.0) + dip + steady(70, 200, 1000.0)) == []
    off = ThroughputWatch(ratio=0, warmup_s=0, baseline_s=1, window_s=1)
    assert feed(off, steady(0, 10, 1000.0) + steady(10, 100, 1.0)) == []


SLOWS = '''
import time

from projnet.models import WideNet


class SlowsDown(WideNet):
    """Trains at its own pace for a few seconds, then each training forward waits: the
    signature of a throttled device, or of another job spinning on the same cores."""

    def __init__(self, in_features, num_classes, width=16, after_s=4.0, wait_s=0.1):
        super().__init__(in_features, num_classes, width)
        self.after_s, self.wait_s, self.t0 = after_s, wait_s, None

    def forward(self, x):
        if self.training:
            self.t0 = self.t0 or time.monotonic()
            if time.monotonic() - self.t0 > self.after_s:
                time.sleep(self.wait_s)
        return super().forward(x)
'''


@pytest.mark.slow
def test_a_job_that_slows_down_gets_a_warning_and_status_shows_its_speed(trn_home, tmp_path):
    root = make_project(tmp_path / "proj")
    (root / PACKAGE / "slow.py").write_text(SLOWS)
    (root / "conf" / "model" / "slows.yaml").write_text(f"_target_: {PACKAGE}.slow.SlowsDown\n")
    args = ["model=slows", "profile=dev", "devices=cpu", "trainer.max_epochs=100000"]
    args += ["events.metrics_every_n_steps=1", "trainer.limit_val_batches=1"]
    args += ["events.slowdown.warmup_s=0.5", "events.slowdown.baseline_s=1.5"]
    args += ["events.slowdown.window_s=1.5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "--json", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        runs = trn_home / "runs"
        events = wait_until(lambda: next(runs.rglob("events.jsonl"), None), "the job's events")

        def warned():
            return next((e for e in read_events(events) if e["event"] == "warning"
                         and "samples_per_s" in e), None)  # fmt: skip

        warning = wait_until(warned, "a slowdown warning")
        assert warning["samples_per_s"] < 0.5 * warning["baseline_samples_per_s"], warning
        assert "training slowed to" in warning["message"]
        job_id = json.loads((events.parent / "job.json").read_text())["job_id"]
        status = wait_until(  # the supervisor keeps the warning in the record
            lambda: (s := json.loads(run_trn("status", job_id, "--json").stdout))["warnings"] and s,
            "the warning in the record",
        )
        assert any("training slowed to" in w for w in status["warnings"])
        assert status["progress"]["samples_per_s"] > 0  # the speed now: the newest step event's
        plain = run_trn("status", job_id).stdout
        assert "samples/s" in plain, plain
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=PATIENCE)
    assert json.loads(out)["state"] == "cancelled"


def test_status_reads_a_long_events_file_by_its_head_and_tail(tmp_path):
    from trn.serve.progress import HEAD_BYTES, TAIL_BYTES, snapshot

    events = tmp_path / "events.jsonl"
    lines = [{"event": "job_started", "ts": "2026-12-07T10:00:00.000Z", "total_steps": 90000}]
    for step in range(1, 30001):
        lines.append({"event": "metrics", "phase": "train", "step": step, "epoch": 0,
                      "ts": f"2026-12-07T10:{step // 1000:02d}:{step % 60:02d}.000Z",
                      "samples_per_s": float(step), "metrics": {"train/loss": 1.0}})  # fmt: skip
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert events.stat().st_size > HEAD_BYTES + TAIL_BYTES  # read in two pieces, not whole
    progress = snapshot(events)
    assert (progress.step, progress.total_steps, progress.samples_per_s) == (30000, 90000, 30000.0)
    assert progress.unit == "steps" and progress.fraction == pytest.approx(1 / 3)


def test_tokens_are_counted_only_where_the_batch_holds_token_ids():
    import torch

    from trn.runner.callbacks import tokens_per_sample

    ids = torch.randint(0, 100, (8, 128))
    assert tokens_per_sample({"input_ids": ids, "attention_mask": torch.ones(8, 128)}) == 128
    assert tokens_per_sample((ids, torch.roll(ids, -1, dims=1))) == 128  # inputs, targets
    assert tokens_per_sample([ids[:, :-1], ids[:, 1:], torch.zeros(8)]) == 127
    assert tokens_per_sample((torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))) is None
    assert tokens_per_sample((torch.randint(0, 5, (8, 4)), torch.randint(0, 2, (8,)))) is None
    assert tokens_per_sample((ids, torch.randint(0, 100, (8, 64)))) is None  # not one shape
    assert tokens_per_sample({"input_ids": torch.randn(8, 128)}) is None  # floats are no ids
    assert tokens_per_sample((ids > 50, ids > 50)) is None  # masks are no ids
    assert tokens_per_sample(ids) is None and tokens_per_sample({"x": ids}) is None


def test_the_progress_line_shows_tokens_where_the_steps_have_them(tmp_path):
    from trn.cli.cmd_status import _progress_line
    from trn.serve.progress import snapshot

    events = tmp_path / "events.jsonl"
    lines = [
        {"event": "job_started", "ts": "2026-12-07T10:00:00.000Z", "total_steps": 100},
        {"event": "metrics", "phase": "train", "step": 10, "epoch": 0, "metrics": {},
         "ts": "2026-12-07T10:00:01.000Z", "samples_per_s": 500.0, "tokens_per_s": 8000.0},
    ]  # fmt: skip
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    progress = snapshot(events)
    assert progress.tokens_per_s == 8000.0
    assert "500 samples/s (8000 tokens/s)" in _progress_line(progress, running=True)
    lines[1].pop("tokens_per_s")
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert "tokens" not in _progress_line(snapshot(events), running=True)
