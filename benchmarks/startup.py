"""Start-up: how soon a short job trains, warm vs cold, against a plain Lightning script.

Whole processes on this machine, the same work each time (the bundled MLP on the bundled
digits, profile=dev: 2 epochs of 8 batches, 2 validation batches, a checkpoint at the end):

  plain  a Lightning script as a user writes it (load the shards, ``Trainer.fit``, save)
  cold   ``TRN_WARM=0 trn run profile=dev devices=cpu``: a fresh Python imports torch
  warm   ``trn run profile=dev devices=cpu`` with the home's warm parent already up

Prints each one's median wall time over ``--repeat`` runs and its ratio to plain, the time from
starting the command to its first training step, and the warm parent's memory.

Then planning, the part before any job exists: ``trn run --dry-run`` of a project's own
LightningModule (a package in a temp dir with ``[tool.trn]``, its model importing torch and
Lightning at the top) against the bundled model's, and how soon ``trn run --detach`` returns
for it. trn reads the project's class from its source, so the ratio should stay near 1x (the
goal: within 2x, and ``--detach`` back within 2 s).

    python benchmarks/startup.py [--repeat 3] [--json] [--planning-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLAIN = r"""
import sys, time
import numpy as np
import torch
import lightning.pytorch as pl
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from trn.data.index import load_index, resolve_dataset
from trn.models import MLP

def split(name):
    index = load_index(resolve_dataset("sample"))
    xs = [np.load(index.root / s.files["x"].path) for s in index.shards(name)]
    ys = [np.load(index.root / s.files["y"].path) for s in index.shards(name)]
    return TensorDataset(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)))

class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = MLP(64, 10, [128, 64], dropout=0.1)
    def training_step(self, batch, i):
        if self.global_step == 0 and i == 0:
            print("first-step", time.time(), flush=True)
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss
    def validation_step(self, batch, i):
        x, y = batch
        self.log("val/acc", (self.net(x).argmax(-1) == y).float().mean())
    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.003)

pl.seed_everything(0, verbose=False)
trainer = pl.Trainer(max_epochs=2, limit_train_batches=8, limit_val_batches=2, accelerator="cpu",
                     devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False)
trainer.fit(Module(), DataLoader(split("train"), batch_size=64, shuffle=True),
            DataLoader(split("val"), batch_size=256))
trainer.save_checkpoint(sys.argv[1])
"""

TRN = ["run", "--json", "profile=dev", "devices=cpu", "events.metrics_every_n_steps=1"]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.time() - t0
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return t0, wall, proc


def plain(tmp: Path) -> tuple[float, float]:
    script = tmp / "plain.py"
    script.write_text(PLAIN)
    t0, wall, proc = timed([sys.executable, str(script), str(tmp / "plain.ckpt")], dict(os.environ))
    first = next(
        float(line.split()[1]) for line in proc.stdout.splitlines() if "first-step" in line
    )
    return wall, first - t0


def trn(home: Path, warm: bool) -> tuple[float, float, dict]:
    env = {**os.environ, "TRN_HOME": str(home), "TRN_WARM": "1" if warm else "0"}
    t0, wall, proc = timed([sys.executable, "-m", "trn", *TRN], env)
    record = json.loads(proc.stdout)
    events = Path(record["job_dir"]) / "events.jsonl"
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "metrics" and event.get("phase") == "train":
            first = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
            return wall, first - t0, record
    sys.exit("no train metrics event")


PROJECT_MODEL = """
import lightning.pytorch as pl
import torch
from torch import nn


class Digits(pl.LightningModule):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 64, lr: float = 0.003):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))
        self.lr = lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/acc", (self.net(x).argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)
"""


def write_project(root: Path) -> Path:
    """A project of the user's own: its package, its config dir, ``[tool.trn]``."""
    (root / "benchproj").mkdir(parents=True)
    (root / "benchproj" / "__init__.py").write_text("")
    (root / "benchproj" / "model.py").write_text(PROJECT_MODEL)
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "model" / "digits.yaml").write_text(
        "_target_: benchproj.model.Digits\nhidden: 64\n"
    )
    (root / "pyproject.toml").write_text(
        '[tool.trn]\nconfig_dir = "conf"\nallow_targets = ["benchproj."]\n'
    )
    return root


def cli_wall(argv: list[str], cwd: Path, home: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its children's) of ``python -m trn ARGV``."""
    env = {**os.environ, "TRN_HOME": str(home)}
    before = os.times()
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "trn", *argv], capture_output=True, text=True, cwd=cwd, env=env
    )
    wall = time.time() - t0
    after = os.times()
    if proc.returncode:
        sys.exit(f"trn {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def planning(repeat: int) -> dict:
    """``--dry-run`` of the bundled model vs a project's LightningModule; ``--detach`` back."""
    dry = ["run", "--dry-run", "devices=cpu", "profile=dev"]
    rows: dict[str, list[tuple[float, float]]] = {"bundled": [], "project": [], "detach": []}
    with tempfile.TemporaryDirectory() as tmp:
        project, home = write_project(Path(tmp) / "proj"), Path(tmp) / "home"
        for _ in range(repeat):  # interleaved: a load change hits both alike
            rows["bundled"].append(cli_wall(dry, ROOT, home))
            rows["project"].append(cli_wall([*dry, "model=digits"], project, home))
            detach = ["run", "--detach", "devices=cpu", "profile=dev", "model=digits"]
            rows["detach"].append(cli_wall(detach, project, home))
        subprocess.run(  # the detached jobs train on; their warm parent goes
            [sys.executable, "-m", "trn", "warm", "stop"],
            cwd=project,
            env={**os.environ, "TRN_HOME": str(home)},
            capture_output=True,
        )
    out = {
        name: {
            "wall_s": statistics.median(w for w, _ in runs),
            "cpu_s": statistics.median(c for _, c in runs),
        }
        for name, runs in rows.items()
    }
    out["project_vs_bundled"] = out["project"]["wall_s"] / out["bundled"]["wall_s"]
    out["load"] = os.getloadavg()[0]  # wall times stretch with it; the CPU seconds do not
    return out


def warm_status(home: Path) -> dict:
    env = {**os.environ, "TRN_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "trn", "warm", "status", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    ours = [p for p in json.loads(proc.stdout) if p["this_home"]]  # every parent of the user
    return ours[0] if ours else {}


def measure(repeat: int) -> dict:
    rows: dict[str, list[tuple[float, float]]] = {"plain": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        trn(home, warm=True)  # brings the warm parent up (not timed)
        for _ in range(repeat):  # interleaved: a load change hits all three alike
            rows["plain"].append(plain(Path(tmp)))
            wall, first, _ = trn(home, warm=False)
            rows["cold"].append((wall, first))
            wall, first, record = trn(home, warm=True)
            assert record["start"] == "warm", record.get("warnings")
            rows["warm"].append((wall, first))
        status = warm_status(home)
        subprocess.run(
            [sys.executable, "-m", "trn", "warm", "stop"],
            cwd=ROOT,
            env={**os.environ, "TRN_HOME": str(home)},
            capture_output=True,
        )
    out: dict = {"repeat": repeat, "cpus": os.cpu_count(), "load": os.getloadavg()[0]}
    for name, runs in rows.items():
        out[name] = {
            "wall_s": statistics.median(w for w, _ in runs),
            "first_step_s": statistics.median(f for _, f in runs),
        }
    out["warm_vs_plain"] = out["warm"]["wall_s"] / out["plain"]["wall_s"]
    out["cold_vs_plain"] = out["cold"]["wall_s"] / out["plain"]["wall_s"]
    out["warm_parent"] = {k: status.get(k) for k in ("private", "rss", "peak_rss")}
    return out


def show(r: dict) -> None:
    print(f"start-up, median of {r['repeat']} (cpus {r['cpus']}, load {r['load']:.1f})")
    print(f"{'':8}{'wall':>8}{'vs plain':>10}{'to 1st step':>13}")
    for name in ("plain", "cold", "warm"):
        ratio = r["plain"]["wall_s"] and r[name]["wall_s"] / r["plain"]["wall_s"]
        print(f"{name:8}{r[name]['wall_s']:>7.2f}s{ratio:>9.2f}x{r[name]['first_step_s']:>12.2f}s")
    own, peak = ((r["warm_parent"][k] or 0) / 2**20 for k in ("private", "peak_rss"))
    print(f"warm parent memory {own:.0f} MiB its own, peak resident {peak:.0f} MiB")
    print("targets: warm <= 0.5x plain, 1st step < 1 s")


def show_planning(p: dict) -> None:
    print(
        f"{'planning (load ' + format(p['load'], '.1f') + ')':28}{'wall':>8}{'cpu':>8}{'vs bundled':>12}"
    )
    rows = [
        ("--dry-run, bundled model", "bundled"),
        ("--dry-run, project's module", "project"),
        ("--detach, project's module", "detach"),
    ]
    for label, key in rows:
        ratio = p[key]["wall_s"] / p["bundled"]["wall_s"]
        print(f"{label:28}{p[key]['wall_s']:>7.2f}s{p[key]['cpu_s']:>7.2f}s{ratio:>11.2f}x")
    print("targets: the project's --dry-run within 2x the bundled model's, --detach back in 2 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--planning-only", action="store_true", help="only the planning rows")
    args = ap.parse_args()
    result = {} if args.planning_only else measure(args.repeat)
    result["planning"] = planning(args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    if not args.planning_only:
        show(result)
    show_planning(result["planning"])


if __name__ == "__main__":
    main()
