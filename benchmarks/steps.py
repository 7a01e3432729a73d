"""Per-step times: does a job train without a pause, cold and warm, against plain Lightning?

The same LightningModule (an MLP on synthetic data that feeds itself, one torch thread, about
30 ms a step on a small CPU) is trained three ways, each a whole process:

  plain  a Lightning script as its author would write it (``Trainer.fit``)
  cold   ``TRN_WARM=0 trn run model=timed`` in a project made in a temp dir: a fresh Python
  warm   ``trn run model=timed`` with the home's warm parent already up: a forked runner

The module records the time of every training step and every full (generation 2) garbage
collection that ran while it trained. For each run the script prints the median step, the
slowest step after the first ``--skip`` (the loop's own warm-up), how many steps took more
than 3x the median (flagged ``STALL``), and the full collections with their longest pause.

    python benchmarks/steps.py [--steps 200] [--repeat 3] [--width 1024] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULE = '''
import gc
import json
import os
import time

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Timed(pl.LightningModule):
    """An MLP that feeds itself and writes the time each training step took."""

    def __init__(self, width: int = 1024, batch: int = 256, steps: int = 200):
        super().__init__()
        torch.set_num_threads(1)  # the same work in every process, whatever the machine
        self.net = nn.Sequential(
            nn.Linear(256, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, 10),
        )
        self.batch, self.steps = batch, steps
        self.marks, self.full_gcs, self._gc_t0 = [], [], 0.0

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.batch * self.steps, 256, generator=g)
        y = torch.randint(0, 10, (self.batch * self.steps,), generator=g)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch, shuffle=False)

    def training_step(self, batch, i):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def on_train_start(self):
        gc.callbacks.append(self._on_gc)
        self.marks.append(time.perf_counter())

    def on_train_batch_end(self, outputs, batch, i):
        self.marks.append(time.perf_counter())

    def on_train_end(self):
        gc.callbacks.remove(self._on_gc)
        steps = [b - a for a, b in zip(self.marks, self.marks[1:])]
        with open(os.environ["STEP_TIMES"], "w") as f:
            json.dump({"steps": steps, "full_gcs": self.full_gcs}, f)

    def _on_gc(self, phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.full_gcs.append(time.perf_counter() - self._gc_t0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)
'''

PLAIN = """
import sys

import lightning.pytorch as pl

from stepbench import Timed

width, steps = int(sys.argv[1]), int(sys.argv[2])
trainer = pl.Trainer(
    max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
)
trainer.fit(Timed(width=width, steps=steps))
"""


def make_project(root: Path, width: int, steps: int) -> Path:
    """A user's project: ``[tool.trn]`` in its pyproject, a model group entry, its package."""
    (root / "stepbench").mkdir(parents=True)
    (root / "stepbench" / "__init__.py").write_text(textwrap.dedent(MODULE).lstrip())
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "model" / "timed.yaml").write_text(
        f"_target_: stepbench.Timed\nwidth: {width}\nsteps: {steps}\n"
    )
    (root / "pyproject.toml").write_text(
        '[project]\nname = "stepbench"\n\n[tool.trn]\nconfig_dir = "conf"\n'
        'allow_targets = ["stepbench."]\n'
    )
    (root / "plain.py").write_text(PLAIN)
    return root


TRN_ARGS = [
    "model=timed",
    "~data",
    "devices=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_val_batches=0",
    "checkpoint.every_n_epochs=0",
    "checkpoint.save_best=false",
    "objective.metric=train/loss",
    "objective.mode=min",
    "--json",
]


def run_one(how: str, project: Path, home: Path, width: int, steps: int) -> dict:
    times = project / f"times-{how}.json"
    env = {**os.environ, "TRN_HOME": str(home), "STEP_TIMES": str(times)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
    if how == "plain":
        cmd = [sys.executable, str(project / "plain.py"), str(width), str(steps)]
    else:
        cmd = [sys.executable, "-m", "trn", "run", *TRN_ARGS]
        env["TRN_WARM"] = "1" if how == "warm" else "0"
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{how} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if how != "plain":
        record = json.loads(proc.stdout)
        assert record["start"] == how, f"expected a {how} start, got {record['start']}"
    return json.loads(times.read_text())


def summarize(how: str, data: dict, skip: int) -> dict:
    steps = [s * 1000 for s in data["steps"]]
    median = statistics.median(steps)
    late = steps[skip:]
    worst = max(range(len(late)), key=late.__getitem__)
    stalls = [(skip + i, round(ms, 1)) for i, ms in enumerate(late) if ms > 3 * median]
    gcs = [g * 1000 for g in data["full_gcs"]]
    return {
        "how": how,
        "steps": len(steps),
        "median_ms": round(median, 2),
        "worst_after_skip": {"step": skip + worst, "ms": round(late[worst], 1)},
        "worst_ratio": round(late[worst] / median, 2),
        "stalls": stalls,
        "full_gcs": len(gcs),
        "longest_full_gc_ms": round(max(gcs), 1) if gcs else 0.0,
    }


def show(row: dict) -> str:
    flag = f"STALL at {row['stalls']}" if row["stalls"] else "no step above 3x median"
    return (
        f"{row['how']:<6} median {row['median_ms']:6.1f} ms  "
        f"worst {row['worst_after_skip']['ms']:6.1f} ms (step {row['worst_after_skip']['step']:>3},"
        f" {row['worst_ratio']:.2f}x)  full GCs {row['full_gcs']} "
        f"(longest {row['longest_full_gc_ms']:.1f} ms)  {flag}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--width", type=int, default=1024, help="hidden width (sets the step)")
    parser.add_argument("--skip", type=int, default=10, help="steps of warm-up not judged")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="trn-steps-") as tmp:
        project = make_project(Path(tmp) / "proj", args.width, args.steps)
        home = Path(tmp) / "home"
        # its own runtime dir: its parent neither counts against nor retires the user's
        os.environ["XDG_RUNTIME_DIR"] = tmp
        env = {**os.environ, "TRN_HOME": str(home)}
        warm_cmd = [sys.executable, "-m", "trn", "warm"]
        subprocess.run([*warm_cmd, "start"], cwd=project, env=env, check=True)
        try:
            for _ in range(args.repeat):  # alternated: a busy spell hits every way alike
                for how in ("plain", "cold", "warm"):
                    row = summarize(
                        how, run_one(how, project, home, args.width, args.steps), args.skip
                    )
                    rows.append(row)
                    if not args.json:
                        print(show(row), flush=True)
        finally:
            subprocess.run([*warm_cmd, "stop"], cwd=project, env=env, capture_output=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    stalled = [r for r in rows if r["stalls"]]
    if not args.json:
        print(
            f"{len(stalled)} of {len(rows)} runs had a step above 3x their median after step {args.skip}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
