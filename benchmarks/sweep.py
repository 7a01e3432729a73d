"""Sweeps: how close does trn's launcher get to the ideal? Two parts, printed side by side.

1. Real CPU sweep: the same 8 trn jobs (fixed work, seconds each after start-up) under Hydra's
   basic launcher (one after another, every job with all cores) and under ``hydra/launcher=trn``
   (a slot per core, one torch thread each), cold (every runner a fresh Python), then again with
   the runners forked from a warm parent (trn.warm). Makespan of each command, their ratio, and trn's
   makespan against the ideal: the jobs' own run times (record created -> ended, at their thread
   budget) summed and divided by the slots.
2. Scheduling at scale, simulated: 64 sleeping jobs of varied durations (a quarter need 2 GPUs)
   on a fake pool of 8 GPUs through the real scheduler and real file leases. Makespan against
   the lower bound max(total GPU-time / 8, longest job), and the scheduler's own overhead per
   job (a slot freeing -> the next job started on it).

    python benchmarks/sweep.py [--jobs 8] [--epochs 6] [--sim-jobs 64] [--only cpu|sim] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trn.launcher.pool import Pool, gpu_slots, usable_cpu_list  # noqa: E402
from trn.launcher.scheduler import Scheduler, WorkItem  # noqa: E402


def trn_sweep(home: Path, overrides: list[str], warm: bool = False) -> tuple[float, dict]:
    """The sweep's makespan; ``warm``: its jobs fork from the home's warm parent, brought up
    before the clock starts (a user's second sweep), else each job's runner starts cold."""
    env = {**os.environ, "TRN_HOME": str(home), "TRN_WARM": "1" if warm else "0"}
    if warm:
        cmd = [sys.executable, "-m", "trn", "warm", "start"]
        subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "run", "-m", "--json", *overrides],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    wall = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"sweep failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def run_times(home: Path) -> list[float]:
    """Each job's own run time: its record's created_at -> ended_at (planning to final event)."""
    out = []
    for path in home.glob("runs/*/*/*/*/job.json"):
        r = json.loads(path.read_text())
        out.append(_ts(r["ended_at"]) - _ts(r["created_at"]))
    return out


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cpu_part(jobs: int, epochs: int) -> dict:
    slots = len(usable_cpu_list())
    work = [
        "profile=dev",
        "devices=cpu",
        f"trainer.max_epochs={epochs}",
        "trainer.limit_train_batches=40",
        "trainer.limit_val_batches=2",
        "seed=" + ",".join(str(i) for i in range(jobs)),
    ]
    packed = [*work, f"hydra.launcher.cpu_slots={slots}"]
    with tempfile.TemporaryDirectory() as tmp:
        basic, _ = trn_sweep(Path(tmp) / "basic", [*work, "hydra/launcher=basic"])
        trn, summary = trn_sweep(Path(tmp) / "trn", packed)
        times = run_times(Path(tmp) / "trn")
        warm, warm_summary = trn_sweep(Path(tmp) / "warm", packed, warm=True)
        subprocess.run(
            [sys.executable, "-m", "trn", "warm", "stop"],
            capture_output=True,
            cwd=ROOT,
            env={**os.environ, "TRN_HOME": str(Path(tmp) / "warm")},
        )
    assert summary["counts"] == {"completed": jobs}, summary["counts"]
    assert warm_summary["counts"] == {"completed": jobs}, warm_summary["counts"]
    ideal = sum(times) / slots
    return {
        "jobs": jobs,
        "slots": slots,
        "basic_s": basic,
        "trn_s": trn,
        "trn_warm_s": warm,
        "ideal_s": ideal,
        "job_mean_s": sum(times) / len(times),
        "vs_ideal": trn / ideal,
        "speedup_vs_basic": basic / trn,
        "warm_vs_cold": warm / trn,
    }


def sim_part(n: int, gpus: int = 8, seed: int = 0) -> dict:
    rng = random.Random(seed)
    specs = [(rng.uniform(1.0, 4.0), 2 if rng.random() < 0.25 else 1) for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        pool = Pool(gpu_slots([f"GPU-{i:08x}-fake-sim" for i in range(gpus)]), home=Path(tmp))
        jobs = [WorkItem(i, ["sleep", f"{d:.3f}"], need=need) for i, (d, need) in enumerate(specs)]
        cpu0, started = time.process_time(), time.monotonic()
        outcomes = Scheduler(pool).run(jobs)
        makespan, cpu = time.monotonic() - started, time.process_time() - cpu0
    assert all(o.rc == 0 for o in outcomes)
    ran = [(o.ended - o.started, len(o.devices)) for o in outcomes]
    bound = max(sum(d * k for d, k in ran) / gpus, max(d for d, _ in ran))
    gaps = [o.gap_s for o in outcomes if o.gap_s is not None and o.started - started > 0.05]
    return {
        "jobs": n,
        "gpus": gpus,
        "two_gpu_jobs": sum(k == 2 for _, k in specs),
        "makespan_s": makespan,
        "bound_s": bound,
        "vs_bound": makespan / bound,
        "gap_ms_mean": 1000 * sum(gaps) / max(1, len(gaps)),
        "gap_ms_max": 1000 * max(gaps, default=0.0),
        "cpu_ms_per_job": 1000 * cpu / n,
    }


def show(cpu: dict | None, sim: dict | None) -> None:
    rows: list[tuple[str, str, str]] = [
        (
            "",
            f"real CPU sweep ({cpu['jobs']} jobs, {cpu['slots']} slots)" if cpu else "-",
            f"simulated ({sim['jobs']} jobs, {sim['gpus']} fake GPUs)" if sim else "-",
        ),
    ]
    if cpu or sim:
        rows += [
            (
                "makespan",
                f"trn {cpu['trn_s']:.1f}s, basic {cpu['basic_s']:.1f}s" if cpu else "",
                f"{sim['makespan_s']:.1f}s" if sim else "",
            ),
            (
                "warm start",
                f"trn warm {cpu['trn_warm_s']:.1f}s: {cpu['warm_vs_cold']:.2f}x cold"
                if cpu
                else "",
                "",
            ),
            (
                "reference",
                f"ideal {cpu['ideal_s']:.1f}s (mean job {cpu['job_mean_s']:.1f}s)" if cpu else "",
                f"bound {sim['bound_s']:.1f}s" if sim else "",
            ),
            (
                "ratio",
                f"{cpu['vs_ideal']:.3f}x ideal; basic/trn {cpu['speedup_vs_basic']:.2f}x"
                if cpu
                else "",
                f"{sim['vs_bound']:.3f}x bound" if sim else "",
            ),
            (
                "overhead/job",
                "",
                f"{sim['gap_ms_mean']:.1f} ms mean gap ({sim['gap_ms_max']:.1f}"
                f" max), {sim['cpu_ms_per_job']:.1f} ms CPU"
                if sim
                else "",
            ),
            ("target", "<= 1.15x ideal, basic/trn >= 1", "<= 1.10x bound, < 50 ms/job"),
        ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--sim-jobs", type=int, default=64)
    ap.add_argument("--only", choices=["cpu", "sim"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sim = sim_part(args.sim_jobs) if args.only != "cpu" else None
    cpu = cpu_part(args.jobs, args.epochs) if args.only != "sim" else None
    if args.json:
        print(json.dumps({"cpu": cpu, "sim": sim}, indent=2))
    else:
        show(cpu, sim)


if __name__ == "__main__":
    main()
