"""How fast are the read commands with a big registry? Seeds 100,000 job records in a temp
$TRN_HOME, then times `trn list` (default page, sorted by a metric, filtered by an override) and
`trn status JOB` as whole processes, cold (a fresh interpreter each time, as a user's shell runs
them). Target: under 0.3 s each. Also times what provenance adds to each submission (git state of
this repo + environment.json, in-process): target under 50 ms.

    python benchmarks/cli.py [--jobs 100000] [--repeat 7]
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from seeding import arguments, seeded_home, timed  # what benchmarks/serve.py seeds and times too


def main() -> None:
    args = arguments(__doc__, repeat=7)
    with seeded_home(args.jobs) as (home, ids):
        env = {**os.environ, "TRN_HOME": str(home)}
        python = timed(["--version"], env, args.repeat)  # the floor: interpreter + argparse
        rows = [
            ("trn --version (floor)", python),
            ("trn list", timed(["list"], env, args.repeat)),
            (
                "trn list --json --limit 100",
                timed(["list", "--json", "--limit", "100"], env, args.repeat),
            ),
            ("trn status JOB", timed(["status", ids[len(ids) // 2]], env, args.repeat)),
            ("trn status PREFIX", timed(["status", ids[-1][:16]], env, args.repeat)),
            (
                "trn list --sort val/acc --limit 20",
                timed(["list", "--sort", "val/acc", "--limit", "20"], env, args.repeat),
            ),
            (
                "trn list --where optimizer.lr=..",
                timed(["list", "--where", "optimizer.lr=0.050000"], env, args.repeat),
            ),
        ]
        capture = provenance(home, args.repeat)
    print(f"{'command':<36}{'median s':>10}{'min s':>10}{'target':>10}")
    for name, times in rows:
        target = "" if "floor" in name else ("ok" if statistics.median(times) < 0.3 else "SLOW")
        print(f"{name:<36}{statistics.median(times):>10.3f}{min(times):>10.3f}{target:>10}")
    ok = "ok" if statistics.median(capture) < 0.05 else "SLOW"
    name = "submit: code + environment.json"
    print(f"{name:<36}{statistics.median(capture):>10.3f}{min(capture):>10.3f}{ok:>10}")


def provenance(home: Path, repeat: int) -> list[float]:
    """What the supervisor adds to a submission: this repo's git state (and its patch, when the
    tree is dirty) and environment.json, written into a job dir. In-process, after one warm-up
    call (the submitting process has imported trn's modules already)."""
    from trn.provenance import capture_code, write_environment

    root = Path(__file__).resolve().parent.parent
    out = []
    for i in range(repeat + 1):
        job_dir = home / f"provenance-{i}"
        job_dir.mkdir()
        t0 = time.perf_counter()
        capture_code(root, job_dir)
        write_environment(job_dir, {"device_ids": ["cpu"]})
        out.append(time.perf_counter() - t0)
    return out[1:]


if __name__ == "__main__":
    main()
