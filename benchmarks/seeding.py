"""What benchmarks/cli.py and benchmarks/serve.py share: a temp $TRN_HOME seeded with many job
records (the same records for both, so their numbers compare), and timing `trn` commands as
whole processes, cold (a fresh interpreter each time, as a user's shell runs them)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trn.registry.index import Index
from trn.registry.record import JobRecord

STATES = ["completed", "completed", "completed", "failed", "cancelled"]


def arguments(doc: str, repeat: int) -> argparse.Namespace:
    """--jobs (how many records to seed) and --repeat (timings per row), described by the first
    line of the benchmark's docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser.parse_args()


@contextmanager
def seeded_home(n: int) -> Iterator[tuple[Path, list[str]]]:
    """A temp $TRN_HOME holding n indexed job records, and their ids oldest first; removed after."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        ids = seed(home, n)
        print(f"seeded {n} job records in {time.perf_counter() - t0:.1f} s")
        yield home, ids


def seed(home: Path, n: int) -> list[str]:
    """Write n job dirs with job.json (no fsync: this is set-up) and index them in one go."""
    start = 1_700_000_000
    records = []
    for i in range(n):
        t = start + i * 7
        job_id = time.strftime("%y%m%d-%H%M%S", time.gmtime(t)) + f"-{i % 1296:04d}"[-4:]
        job_dir = home / "runs" / time.strftime("%Y/%m/%d", time.gmtime(t)) / job_id
        job_dir.mkdir(parents=True)
        rec = JobRecord(
            job_id=job_id,
            job_dir=str(job_dir),
            state=STATES[i % len(STATES)],
            devices=["cpu"],
            overrides=[f"optimizer.lr={i * 1e-6:.6f}"],
            metrics={"val/acc": 0.9 + (i % 100) / 1000, "val/loss": 0.1},
        )
        data = rec.to_dict()
        (job_dir / "job.json").write_text(json.dumps(data))
        records.append(data)
    index = Index(home / "index.db")
    index.upsert_many(records)
    index.close()
    return [r["job_id"] for r in records]


def timed(argv: list[str], env: dict[str, str], repeat: int) -> list[float]:
    """Seconds each of `repeat` runs of `python -m trn ARGV` took; a failed run ends the benchmark."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "trn", *argv], env=env, capture_output=True)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"trn {' '.join(argv)} failed: {proc.stderr.decode()}")
    return out
