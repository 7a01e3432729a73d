"""Training speed at realistic step sizes: trn against what a user would otherwise run.

Two models of a user's project, each 10-50 ms a step on a laptop-class CPU: a small CNN on
synthetic 3x32x32 images (batch 128) and a small transformer encoder classifying token sequences.
Each is trained three ways, each a fresh Python with the machine's defaults:

  hand     a hand-written PyTorch loop over the same module's network, optimizer and data
  plain    a plain Lightning Trainer fitting the same LightningModule and DataModule
  trn      `trn run model=M data=synthetic` in the project (its conf/ and [tool.trn])

in alternated rounds (hand, plain, trn, hand, ...), so a change in the machine's load falls on
all three alike. The rate is steady state only: steps per second after the first epoch (trn's
from its own metrics events). Also the peak memory (PSS, shared pages counted once) of each run's
whole process tree, sampled every 0.1 s in a round of its own (the sampling costs CPU time).

    python benchmarks/throughput.py [--rounds 5] [--epochs 4] [--models cnn,transformer] [--busy]

Prints, per model, each way's median steps/s and spread (min-max), and trn's ratios. ``--busy``
runs it all beside one busy process pinned to each CPU: a machine shared with other work.
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
import threading
from pathlib import Path

PACKAGE = "benchproj"
BUSY = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"
STEPS_PER_EPOCH = 40

MODELS = textwrap.dedent(
    """
    import torch
    import lightning.pytorch as pl
    from torch import nn
    from torch.nn import functional as F


    def cnn():
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
        )


    class Encoder(nn.Module):
        def __init__(self, vocab=1000, dim=128, heads=4, layers=2, classes=10):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers)
            self.head = nn.Linear(dim, classes)

        def forward(self, tokens):
            return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


    NETS = {"cnn": cnn, "transformer": Encoder}


    class Classifier(pl.LightningModule):
        def __init__(self, net: str = "cnn", lr: float = 1e-3):
            super().__init__()
            self.save_hyperparameters()
            self.net = NETS[net]()

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train/loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
    """
)

DATA = textwrap.dedent(
    """
    import torch
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    SHAPES = {"cnn": (128, lambda g, n: torch.randn(n, 3, 32, 32, generator=g)),
              "transformer": (64, lambda g, n: torch.randint(0, 1000, (n, 64), generator=g))}


    def tensors(kind, batches):
        batch, make = SHAPES[kind]
        g = torch.Generator().manual_seed(0)
        n = batch * batches
        return make(g, n), torch.randint(0, 10, (n,), generator=g), batch


    class Synthetic(pl.LightningDataModule):
        def __init__(self, kind: str = "cnn", batches: int = 40):
            super().__init__()
            self.kind, self.batches = kind, batches

        def setup(self, stage=None):
            x, y, self.batch = tensors(self.kind, self.batches)
            self.train = TensorDataset(x, y)

        def train_dataloader(self):
            return DataLoader(self.train, batch_size=self.batch, shuffle=True)
    """
)

HAND = textwrap.dedent(
    """
    import sys, time, torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from benchproj.data import tensors
    from benchproj.models import NETS

    kind, epochs = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(0)
    x, y, batch = tensors(kind, int(sys.argv[3]))
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    net = NETS[kind]()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    steps, t0 = 0, 0.0
    for epoch in range(epochs):
        if epoch == 1:
            steps, t0 = 0, time.perf_counter()
        for xb, yb in loader:
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    print(steps / (time.perf_counter() - t0))
    """
)

PLAIN = textwrap.dedent(
    """
    import sys, time, torch
    import lightning.pytorch as pl
    from benchproj.data import Synthetic
    from benchproj.models import Classifier

    class Clock(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:
                self.t0, self.step0 = time.perf_counter(), trainer.global_step

    kind, epochs, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    clock = Clock()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[clock])
    trainer.fit(Classifier(kind), Synthetic(kind, batches))
    print((trainer.global_step - clock.step0) / (time.perf_counter() - clock.t0))
    """
)


def make_project(root: Path) -> Path:
    (root / PACKAGE).mkdir(parents=True)
    (root / PACKAGE / "__init__.py").write_text("")
    (root / PACKAGE / "models.py").write_text(MODELS)
    (root / PACKAGE / "data.py").write_text(DATA)
    for kind in ("cnn", "transformer"):
        (root / "conf" / "model").mkdir(parents=True, exist_ok=True)
        (root / "conf" / "model" / f"{kind}.yaml").write_text(
            f"_target_: {PACKAGE}.models.Classifier\nnet: {kind}\n"
        )
    (root / "conf" / "data").mkdir()
    (root / "conf" / "data" / "synthetic.yaml").write_text(
        f"_target_: {PACKAGE}.data.Synthetic\nkind: cnn\nbatches: {STEPS_PER_EPOCH}\n"
    )
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\n\n[tool.trn]\nallow_targets = ["{PACKAGE}."]\n'
    )
    (root / "hand.py").write_text(HAND)
    (root / "plain.py").write_text(PLAIN)
    return root


class PeakMemory:
    """The largest total PSS of ``pid`` and its descendants, sampled while it runs; with a
    ``home``, also of the trn job's runner there and its warm parent (a fork of the parent, not
    a child of the command), so trn's figure is its whole process tree."""

    def __init__(self, pid: int, home: Path | None = None):
        self.pid, self.home, self.peak, self._stop = pid, home, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            pids = set(_tree(self.pid))
            runner = _runner(self.home) if self.home else None
            if runner:
                pids |= set(_tree(runner)) | {_parent(runner)}
            self.peak = max(self.peak, sum(_pss(p) for p in pids if p > 1))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _runner(home: Path) -> int | None:
    """The runner of the newest running job in ``home``."""
    records = sorted(home.glob("runs/*/*/*/*/job.json"))
    try:
        return json.loads(records[-1].read_text()).get("runner_pid") if records else None
    except (OSError, ValueError):
        return None


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(
    argv: list[str], cwd: Path, env: dict[str, str], home: Path | None, sample: bool
) -> tuple[str, int]:
    """The command's stdout, and (``sample``) its process tree's peak memory, else 0."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    memory = PeakMemory(proc.pid, home) if sample else None
    out, _ = proc.communicate()
    peak = memory.stop() if memory else 0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({proc.returncode})")
    return out, peak


def trn_rate(out: str) -> float:
    record = json.loads(out)
    events = [json.loads(x) for x in Path(record["job_dir"], "events.jsonl").open()]
    steady = [
        e for e in events
        if e["event"] == "metrics" and e["phase"] == "train" and e["step"] >= STEPS_PER_EPOCH
    ]  # fmt: skip
    first, last = steady[0], steady[-1]
    seconds = _ts(last["ts"]) - _ts(first["ts"])
    return (last["step"] - first["step"]) / seconds


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def one_round(
    kind: str, epochs: int, project: Path, home: Path, sample: bool = False
) -> dict[str, tuple[float, int]]:
    env = {k: v for k, v in os.environ.items() if k != "TRN_HOME"}
    env["PYTHONPATH"] = str(project)
    out: dict[str, tuple[float, int]] = {}
    args = [kind, str(epochs), str(STEPS_PER_EPOCH)]
    text, peak = run([sys.executable, "hand.py", *args], project, env, None, sample)
    out["hand"] = (float(text), peak)
    text, peak = run([sys.executable, "plain.py", *args], project, env, None, sample)
    out["plain"] = (float(text), peak)
    trn = [
        sys.executable, "-m", "trn", "run", "--json", f"model={kind}", "data=synthetic",
        f"data.kind={kind}", "devices=cpu", f"trainer.max_epochs={epochs}",
        "trainer.limit_val_batches=0", "checkpoint.every_n_epochs=0",
        "events.metrics_every_n_steps=5", "objective.metric=train/loss", "objective.mode=min",
    ]  # fmt: skip
    text, peak = run(trn, project, {**env, "TRN_HOME": str(home)}, home, sample)
    out["trn"] = (trn_rate(text), peak)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--models", default="cnn,transformer")
    ap.add_argument("--busy", action="store_true", help="one busy process pinned to each CPU")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0)) if args.busy else []
    busy = [subprocess.Popen([sys.executable, "-c", BUSY, str(c)]) for c in cpus]
    try:
        measure(args)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project, home = make_project(Path(tmp) / "proj"), Path(tmp) / "home"
        one_round("cnn", 2, project, home)  # the first trn run starts the warm parent
        for kind in args.models.split(","):
            load = os.getloadavg()[0]
            rounds = [one_round(kind, args.epochs, project, home) for _ in range(args.rounds)]
            # memory in a round of its own: reading a tree's PSS ten times a second costs CPU
            # time and takes the processes' memory-map locks, more so for trn's three processes
            # (supervisor, runner, warm parent) than for one: it would slow what is timed
            peaks = one_round(kind, 2, project, home, sample=True)
            report(kind, rounds, {way: peak for way, (_, peak) in peaks.items()}, load)


def report(
    kind: str, rounds: list[dict[str, tuple[float, int]]], peaks: dict[str, int], load: float
) -> None:
    print(f"\n{kind}: {len(rounds)} rounds, {STEPS_PER_EPOCH} steps an epoch, load {load:.1f}")
    medians = {}
    for way in ("hand", "plain", "trn"):
        rates = [r[way][0] for r in rounds]
        peak = peaks[way] / 2**20
        medians[way] = statistics.median(rates)
        print(
            f"  {way:<6}{medians[way]:8.1f} steps/s  ({1000 / medians[way]:5.1f} ms/step; "
            f"{min(rates):.1f}-{max(rates):.1f})  peak {peak:5.0f} MiB"
        )
    print(f"  trn / plain Lightning  {medians['trn'] / medians['plain']:.3f}x")
    print(f"  trn / hand loop        {medians['trn'] / medians['hand']:.3f}x")


if __name__ == "__main__":
    main()
