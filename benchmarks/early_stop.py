"""Early stopping of trials: an 8-trial learning-rate sweep with ``sweep.early_stop=asha`` against
the same sweep without it. Both reach a best objective; ASHA stops the hopeless trials at its
rungs, so it spends a fraction of the device time (each job's slot-time: its record's
created_at -> ended_at, summed) and of the wall time. Printed: the best objective of each, the
device seconds of each and their ratio.

    python benchmarks/early_stop.py [--epochs 27] [--slots 2] [--grace 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LRS = "0.03,0.01,0.003,0.001,0.0003,0.0001,0.00003,0.00001"  # 8 trials, log-spaced


def sweep(home: Path, overrides: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "TRN_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "trn", "warm", "start"], cwd=ROOT, env=env,
                   capture_output=True, check=False)  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "run", "-m", "--json", *overrides],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    wall = time.monotonic() - started
    if proc.returncode not in (0,):
        sys.exit(f"sweep failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def device_seconds(home: Path) -> float:
    """The slot-time of every job of the home: created_at -> ended_at, summed."""
    total = 0.0
    for path in home.glob("runs/*/*/*/*/job.json"):
        record = json.loads(path.read_text())
        start, end = (
            datetime.fromisoformat(record[k].replace("Z", "+00:00")).timestamp()
            for k in ("created_at", "ended_at")
        )
        total += end - start
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--grace", type=int, default=3, help="ASHA's first rung (epochs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = [
        "profile=dev",
        "devices=cpu",
        f"trainer.max_epochs={args.epochs}",
        "trainer.limit_val_batches=2",
        f"hydra.launcher.cpu_slots={args.slots}",
        f"optimizer.lr={LRS}",
    ]
    asha = ["sweep.early_stop=asha", f"sweep.grace={args.grace}", "sweep.reduction_factor=3"]
    out = {}
    with tempfile.TemporaryDirectory(prefix="trn-bench-es-") as tmp:
        for name, extra in (("full", []), ("asha", asha)):
            home = Path(tmp) / name
            wall, summary = sweep(home, [*base, *extra])
            out[name] = {
                "best": summary["best"]["value"],
                "device_s": round(device_seconds(home), 2),
                "wall_s": round(wall, 2),
                "counts": summary["counts"],
            }
    out["device_ratio"] = round(out["asha"]["device_s"] / out["full"]["device_s"], 3)
    out["wall_ratio"] = round(out["asha"]["wall_s"] / out["full"]["wall_s"], 3)
    out["same_best"] = out["asha"]["best"] == out["full"]["best"]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"8-trial lr sweep, {args.epochs} epochs, {args.slots} CPU slots")
    for name in ("full", "asha"):
        r = out[name]
        print(
            f"  {name:5} best val/acc {r['best']:.4f}  device {r['device_s']:7.1f} s  "
            f"wall {r['wall_s']:6.1f} s  {r['counts']}"
        )
    print(
        f"  asha / full: device time x{out['device_ratio']}, wall x{out['wall_ratio']}, "
        f"same best: {out['same_best']}"
    )


if __name__ == "__main__":
    main()
