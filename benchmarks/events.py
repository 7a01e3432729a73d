"""What do events cost? Three measurements, each against what a user would otherwise write:

1. events/s into the file sinks (job file + global stream, as a job writes them) against
   ``f.write(json.dumps(obj) + "\\n")`` into one open file;
2. events/s into the Redis sink: what the training thread pays (enqueue) and what reaches the
   stream (delivery), against a synchronous ``XADD`` per event;
3. training steps/s of the sample MLP on CPU with a ``metrics`` event every step, against the
   same Trainer with events off (target: at most 2% slower), with Redis on as well, and with
   the default of one every 10 steps.

    python benchmarks/events.py [--events 20000] [--steps 400] [--repeat 5] [--threads 1]

Needs ``redis-server`` on PATH for the Redis rows (skipped, and said so, without it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
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


def bench_file(tmp: Path, n: int) -> tuple[float, float]:
    writer = EventWriter(tmp / "job", "bench-job", source="runner", global_path=tmp / "all.jsonl")
    t0 = time.perf_counter()
    for step in range(n):
        writer.emit("metrics", phase="train", step=step, epoch=0, metrics=METRICS)
    trn_s = time.perf_counter() - t0
    writer.close()
    obj = {"event": "metrics", "step": 0, "metrics": METRICS}
    t0 = time.perf_counter()
    with open(tmp / "plain.jsonl", "w") as f:
        for step in range(n):
            obj["step"] = step
            f.write(json.dumps(obj) + "\n")
    return trn_s, time.perf_counter() - t0


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
    from trn.runner.module import Classifier

    config = load(["profile=dev", "devices=cpu"])
    datamodule = build.build_data(config)
    datamodule.setup("fit")
    model = build.build_model(config, datamodule)
    return Classifier(model, build.optimizer_factory(config), config["scheduler"]), datamodule


def steps_per_s(steps: int, events: EventWriter | None, every: int = 1) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second of this process, sender threads included)."""
    from trn.runner.callbacks import EventCallback

    module, datamodule = make_trainer_parts()
    callbacks = [EventCallback(events, every, ["cpu"], heartbeat_s=10)] if events else []
    timer = _Timer(skip=20)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[*callbacks, timer],
    )  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    n = steps - timer.skip
    return n / (time.perf_counter() - timer.t0), n / (time.process_time() - timer.cpu0)


class _Timer(pl.Callback):
    """Starts the clocks after ``skip`` steps (start-up and warm-up excluded)."""

    def __init__(self, skip: int):
        self.skip, self.t0, self.cpu0 = skip, 0.0, 0.0

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.global_step == self.skip:
            self.t0, self.cpu0 = time.perf_counter(), time.process_time()


def _writer(tmp: Path, mode: str, i: int, url: str | None) -> EventWriter | None:
    if mode == "off":
        return None
    mode = mode.replace("/", "-")
    sinks = [RedisStreamSink(RedisOptions(url=url, stream="train"))] if mode == "redis" else []
    return EventWriter(tmp / f"{mode}{i}", "bench-job", source="runner",
                       global_path=tmp / "g.jsonl", extra_sinks=sinks)  # fmt: skip


def bench_training(tmp: Path, steps: int, repeat: int, url: str | None) -> dict[str, list]:
    """Interleaved runs, the order rotated each round, so a busy machine hits all modes alike."""
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    modes = ["off", "file", "redis"] if url else ["off", "file"]
    modes.append("file/10")  # the default: a metrics event every 10 steps
    out: dict[str, list] = {m: [] for m in modes}
    for i in range(repeat):
        for mode in modes[i % len(modes) :] + modes[: i % len(modes)]:
            writer = _writer(tmp, mode, i, url)
            out[mode].append(steps_per_s(steps, writer, 10 if mode == "file/10" else 1))
            if writer:
                writer.close()
    return out


def report(runs: dict[str, list]) -> None:
    """Medians, and the median of each round's ratio to the events-off run of that round."""
    for k, clock in enumerate(("wall", "cpu")):
        for mode, values in runs.items():
            rates = [v[k] for v in values]
            ratios = [v[k] / off[k] for v, off in zip(values, runs["off"])]
            print(f"training {clock:<4} events {mode:<7}: median {statistics.median(rates):6.1f} "
                  f"steps/s, paired median {statistics.median(ratios) - 1:+.1%} vs off "
                  f"{[round(r) for r in rates]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady on a busy box)"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        trn_s, plain_s = bench_file(tmp, args.events)
        print(f"file sinks (job file + global): {rate(args.events, trn_s)}; "
              f"json.dumps + write to one open file: {rate(args.events, plain_s)} "
              f"({plain_s / trn_s:.2f}x)")  # fmt: skip
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
            runs = bench_training(tmp, args.steps, args.repeat, url)
        finally:
            if redis:
                redis[0].terminate()
    report(runs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
