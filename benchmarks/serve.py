"""How fast does ``trn serve`` answer over a big registry? Seeds 100,000 job records in a temp
$TRN_HOME (benchmarks/seeding.py: the records benchmarks/cli.py seeds), starts a real ``trn
serve`` on a free loopback port, and times GET /api/v1/jobs (the default page, a filtered page,
one job by prefix) against the command a user would otherwise run, ``trn list --json`` (a fresh
process each time).
Target: GET /jobs under 100 ms median.

    python benchmarks/serve.py [--jobs 100000] [--repeat 30]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
from seeding import arguments, seeded_home, timed  # the records and timing benchmarks/cli.py uses

TOKEN = "benchmark-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.perf_counter()
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            print(f"trn serve answered {time.perf_counter() - t0:.2f} s after it was started")
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.perf_counter() - t0 > 30:
                raise SystemExit("trn serve did not start")
            time.sleep(0.02)


def requests(client: httpx.Client, path: str, repeat: int) -> list[float]:
    out = []
    client.get(path).raise_for_status()  # the first one opens the index
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    args = arguments(__doc__, repeat=30)
    with seeded_home(args.jobs) as (home, ids):
        env = {**os.environ, "TRN_HOME": str(home), "TRN_SERVE_TOKEN": TOKEN}
        port = free_port()
        proc = start(env, port)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers=headers) as c:
                rows = [
                    ("GET /jobs", requests(c, "/jobs", args.repeat)),
                    (
                        "GET /jobs?state=failed&limit=100",
                        requests(c, "/jobs?state=failed&limit=100", args.repeat),
                    ),
                    ("GET /jobs/PREFIX", requests(c, f"/jobs/{ids[-1][:16]}", args.repeat)),
                ]
        finally:
            proc.terminate()
            proc.wait()
        cli = timed(["list", "--json"], env, max(3, args.repeat // 5))
    base = statistics.median(cli)
    print(f"{'request':<36}{'median ms':>10}{'min ms':>10}{'vs trn list':>13}{'target':>8}")
    for name, times in rows:
        median = statistics.median(times)
        ok = "ok" if median < 0.1 else "SLOW"
        print(
            f"{name:<36}{median * 1e3:>10.1f}{min(times) * 1e3:>10.1f}{base / median:>12.1f}x{ok:>8}"
        )
    print(
        f"{'trn list --json (a new process)':<36}{base * 1e3:>10.1f}{min(cli) * 1e3:>10.1f}{'1.0x':>13}"
    )


if __name__ == "__main__":
    main()
