"""What do events cost? Three measurements, each against what a user would otherwise write:

1. events/s into the file sinks (job file + global stream, as a job writes them) against
   ``f.write(json.dumps(obj) + "\\n")`` into one open file;
2. events/s into the Redis sink: what the training thread pays (enqueue) and what reaches the
   stream (delivery), against a synchronous ``XADD`` per event;
3. the time of a training step of the sample MLP on CPU (about 3 ms: a worst case) with a
   ``metrics`` event every step, against the same run with no step events (target: at most 2%
   slower); also with Redis on, at the default of one every 10 steps, and at the default with
   ``logger=[csv,tensorboard]`` fed the same metrics (needs tensorboard). One run switches the
   events on and off every ``--block`` epochs, so both sides share the machine's state.

    python benchmarks/events.py [--events 20000] [--blocks 400] [--block 1] [--repeat 3]

Needs ``redis-server`` on PATH for the Redis rows (skipped, and said so, without it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from trn.events.redis_sink import RedisOptions, RedisStreamSink
from trn.events.writer import EventWriter

METRICS = {"train/loss": 0.3124, "lr": 0.003}


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def bench_file(tmp: Path, n: int) -> tuple[float, float, float]:
    """Seconds for n events: written at once (``emit``), queued (``emit_later``, the
    training steps' path, the writes included), and plain ``json.dumps`` + ``write``."""
    timings = []
    for name in ("emit", "emit_later"):
        writer = EventWriter(tmp / name, "bench-job", source="runner", global_path=tmp / "all")
        emit = getattr(writer, name)
        t0 = time.perf_counter()
        for step in range(n):
            emit("metrics", phase="train", step=step, epoch=0, metrics=METRICS)
        writer.flush()
        timings.append(time.perf_counter() - t0)
        writer.close()
    obj = {"event": "metrics", "step": 0, "metrics": METRICS}
    t0 = time.perf_counter()
    with open(tmp / "plain.jsonl", "w") as f:
        for step in range(n):
            obj["step"] = step
            f.write(json.dumps(obj) + "\n")
    return timings[0], timings[1], time.perf_counter() - t0


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str] | None:
    if not shutil.which("redis-server"):
        return None
    import socket

    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def bench_redis(url: str, n: int) -> tuple[float, float, float]:
    import redis

    line = json.dumps({"event": "metrics", "job_id": "j", "id": "0" * 24, "metrics": METRICS})
    sink = RedisStreamSink(RedisOptions(url=url, stream="bench", maxlen=None, buffer=n))
    t0 = time.perf_counter()
    for _ in range(n):
        sink.write(line)
    enqueue_s = time.perf_counter() - t0
    while sink.sent < n:
        time.sleep(0.001)
    deliver_s = time.perf_counter() - t0
    sink.close()
    client = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    for _ in range(n // 10):
        client.xadd("sync", {"event": "metrics", "data": line})
    return enqueue_s, deliver_s, (time.perf_counter() - t0) * 10


def make_trainer_parts() -> tuple[Any, Any]:
    from trn.config.validate import load
    from trn.runner import build
    from trn.runner.tasks import Classifier

    config = load(["profile=dev", "devices=cpu"])
    datamodule = build.build_data(config)
    model = build.build_model(config, datamodule)
    return Classifier(model, build.optimizer_factory(config), config["scheduler"]), datamodule


class _Alternate(pl.Callback):
    """Switches the step events of an ``EventCallback`` on and off every ``block`` epochs and
    times each block: both halves of a pair run in the same process, a second apart, so the
    machine's drift (±15% between whole runs on a busy 2-core box) cancels out. Blocks are whole
    epochs, so each holds the same steps, epoch ends and data-loader restarts."""

    def __init__(self, inner: Any, block: int, skip: int):
        self.inner, self.block, self.skip = inner, block, skip
        self.on, self.t0 = False, 0.0
        self.times: dict[bool, list[float]] = {True: [], False: []}

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        epoch = trainer.current_epoch
        if epoch < self.skip or (epoch - self.skip) % self.block:
            return
        now = time.perf_counter()
        if epoch > self.skip:
            self.times[self.on].append(now - self.t0)
        self.t0, self.on = now, not self.on
        self.inner._step_writer = self.inner.events if self.on else None


def ab_blocks(
    writer: Any, every: int, blocks: int, block: int, loggers: list[Any] | None = None
) -> tuple[float, float]:
    """(slowdown of a step with step events on against off, steps/s off): total time of the on
    blocks over the off blocks (totals, not medians, so the batched writes count wherever they
    land)."""
    from trn.runner.callbacks import EventCallback

    module, datamodule = make_trainer_parts()
    events = EventCallback(writer, every, ["cpu"], heartbeat_s=0)
    switch = _Alternate(events, block, skip=2)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=2 + blocks * block + 1, limit_val_batches=0,
        logger=loggers or False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[events, switch],
    )  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    on, off = switch.times[True], switch.times[False]
    n = min(len(on), len(off))
    steps_per_block = trainer.num_training_batches * block
    return sum(on[:n]) / sum(off[:n]) - 1, n * steps_per_block / sum(off[:n])


def _writer(tmp: Path, mode: str, url: str | None) -> EventWriter:
    sinks = [RedisStreamSink(RedisOptions(url=url, stream="train"))] if "redis" in mode else []
    writer = EventWriter(tmp / mode.replace(" ", "-"), "bench-job", source="runner",
                         global_path=tmp / "g.jsonl", extra_sinks=sinks)  # fmt: skip
    if "at once" in mode:  # what trn did before step events were queued: encode and write now
        writer.emit_later = lambda event, **fields: writer.emit(event, **fields)  # type: ignore[method-assign]
    return writer


def bench_training(tmp: Path, blocks: int, block: int, repeat: int, url: str | None) -> None:
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    modes = {"every step": 1, "every 10 steps (default)": 10}
    if url:
        modes["every step, + redis"] = 1
    modes["every step, each written at once"] = 1
    modes["every 10 steps (default), + logger=[csv,tensorboard]"] = 10
    for mode, every in modes.items():
        results = []
        for i in range(repeat):
            writer = _writer(tmp, mode, url)
            through, fed = writer, []
            if "logger" in mode:  # the loggers are fed through the writer, as in a job
                from trn.runner.loggers import build

                chosen = {"logger": {"csv": {}, "tensorboard": {}}}
                through, fed = build(chosen, tmp / f"loggers-{i}", {"job_id": "bench"}, writer)
            results.append(ab_blocks(through, every, blocks, block, fed))
            writer.close()
        slow = sorted(r[0] for r in results)
        print(f"training step, metrics event {mode}: {statistics.median(slow):+.2%} vs none "
              f"(runs: {', '.join(f'{x:+.2%}' for x in slow)}; "
              f"{statistics.median(r[1] for r in results):.0f} steps/s without)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=400, help="on/off blocks per training run")
    parser.add_argument("--block", type=int, default=1, help="epochs (23 steps) per block")
    parser.add_argument("--repeat", type=int, default=3, help="training runs per mode")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady on a busy box)"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        now_s, later_s, plain_s = bench_file(tmp, args.events)
        print(f"file sinks (job file + global): {rate(args.events, now_s)} written at once, "
              f"{rate(args.events, later_s)} queued; json.dumps + write to one open file: "
              f"{rate(args.events, plain_s)} ({plain_s / now_s:.2f}x, {plain_s / later_s:.2f}x)")  # fmt: skip
        redis = start_redis(tmp)
        url = redis[1] if redis else None
        if redis:
            enq, dlv, sync = bench_redis(redis[1], args.events)
            print(f"redis sink: enqueue {rate(args.events, enq)}, delivered {rate(args.events, dlv)}"
                  f"; synchronous XADD per event: {rate(args.events, sync)} "
                  f"(delivery {sync / dlv:.1f}x faster, training thread {sync / enq:.0f}x)")  # fmt: skip
        else:
            print("redis: skipped (no redis-server on PATH)")
        try:
            bench_training(tmp, args.blocks, args.block, args.repeat, url)
        finally:
            if redis:
                redis[0].terminate()


if __name__ == "__main__":
    main()
