"""What does a job's thread count cost when the machine is busy? One training step of two small
models (the bundled MLP's size, and a 3x32x32 CNN), timed with 1 thread and with every usable
CPU, OpenMP's waiting threads spinning (its default: 300,000 rounds before they sleep), sleeping
at once (OMP_WAIT_POLICY=PASSIVE), or spinning briefly (GOMP_SPINCOUNT=10000, trn's default for
its jobs), first on the machine as it is, then with one busy process pinned to each CPU (what a
shared 2-core CI machine or a laptop building something looks like). Each configuration is a
fresh Python: OpenMP reads its variables once, at start.

    python benchmarks/threads.py [--steps 300] [--cnn-steps 30] [--repeats 3]
        [--models mlp,cnn,transformer] [--spins 10000,100000] [--idle-only]

``--spins`` adds a row per GOMP_SPINCOUNT (``spin=N``); the transformer (the small encoder of
benchmarks/throughput.py, about 100 ms a step) runs ``--cnn-steps`` steps, as the CNN does.

Prints the median seconds per 100 steps and the ratio to 1 thread on the same machine state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

STEP = r"""
import sys, time, torch
from torch import nn
torch.manual_seed(0)
if sys.argv[1] == "mlp":
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    x = torch.randn(64, 64)
elif sys.argv[1] == "transformer":
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(1000, 128)
            layer = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2)
            self.head = nn.Linear(128, 10)
        def forward(self, tokens):
            return self.head(self.encoder(self.embed(tokens)).mean(dim=1))
    net = Encoder()
    x = torch.randint(0, 1000, (64, 64))
else:
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 8 * 8, 10))
    x = torch.randn(128, 3, 32, 32)
y = torch.randint(0, 10, (x.shape[0],))
opt = torch.optim.AdamW(net.parameters(), 1e-3)
def step():
    loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(20):
    step()
n = int(sys.argv[2]); t = time.perf_counter()
for _ in range(n):
    step()
print((time.perf_counter() - t) / n * 100)
"""

BUSY = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


WAITING = {  # how the threads of a multi-threaded run wait: the variables that say so
    "spin": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "trn": {"GOMP_SPINCOUNT": "10000"},
}


def per_100(model: str, steps: int, threads: int, waiting: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(var, None)
    if waiting.startswith("spin="):
        env["GOMP_SPINCOUNT"] = waiting.removeprefix("spin=")
    env.update(WAITING.get(waiting, {}))
    out = subprocess.run(
        [sys.executable, "-c", STEP, model, str(steps)], env=env, capture_output=True, text=True
    )
    return float(out.stdout.strip())


def table(steps: dict[str, int], repeats: int, cpus: int, load: str, waitings: list[str]) -> None:
    print(f"\n{load} (load average {os.getloadavg()[0]:.1f} at the start)", flush=True)
    print(f"{'model':<12}{'threads':>9}{'waiting':>12}{'s/100 steps':>13}{'vs 1 thread':>13}")
    for model in steps:
        configs = [(1, "-")] + [(cpus, w) for w in waitings]
        # alternated, so a change in the machine's load falls on every configuration alike
        runs: dict[tuple[int, str], list[float]] = {c: [] for c in configs}
        for _ in range(repeats):
            for threads, waiting in configs:
                runs[(threads, waiting)].append(per_100(model, steps[model], threads, waiting))
        base = statistics.median(runs[(1, "-")])
        for (threads, waiting), got in runs.items():
            median = statistics.median(got)
            print(f"{model:<12}{threads:>9}{waiting:>12}{median:>13.3f}{median / base:>12.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="of the MLP (about 1 ms each)")
    ap.add_argument("--cnn-steps", type=int, default=30, help="of the CNN (about 100 ms each)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn", help="of mlp, cnn, transformer")
    ap.add_argument("--spins", default="", help="GOMP_SPINCOUNT values to add, comma-separated")
    ap.add_argument("--idle-only", action="store_true", help="skip the busy-machine table")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        sys.exit("needs 2 CPUs or more: with one, 1 thread is the only choice")
    per_model = {"mlp": args.steps, "cnn": args.cnn_steps, "transformer": args.cnn_steps}
    steps = {m: per_model[m] for m in args.models.split(",")}
    waitings = list(WAITING) + [f"spin={n}" for n in args.spins.split(",") if n]
    table(steps, args.repeats, len(cpus), "the machine as it is", waitings)
    if args.idle_only:
        return
    busy = [subprocess.Popen([sys.executable, "-c", BUSY, str(c)]) for c in cpus]
    try:
        table(steps, args.repeats, len(cpus), f"{len(cpus)} busy processes, one per CPU", waitings)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
