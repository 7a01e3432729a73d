"""Regenerate the dashboard's screenshots in docs/serve.md from real jobs in a real browser.

    python scripts/serve_screenshots.py [OUT_DIR]   # default docs/; needs selenium, chromium

In a fresh $TRN_HOME under a temp dir it runs, on CPU: a two-point dropout sweep and a three-point
learning-rate sweep (to the end), and a job that is cancelled after a few epochs and resumed (left
running). Then it starts
`trn serve`, opens the one-time sign-in link it prints in headless chromium (Debian's chromium and
chromium-driver) and saves:

    serve-jobs.png        the jobs table, a progress bar on the running job
    serve-dashboard.png   the resumed job's page: progress, both attempts' curves, the log folded
    serve-sweeps.png      the list of sweeps
    serve-sweep.png       the sweep's page: ranking, best job, objective by lr, curves overlaid

About three minutes on two cores. The jobs it leaves running are cancelled at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL = [
    "profile=dev",
    "devices=cpu",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "events.flush_s=0",
]


def trn(*argv: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "trn", *argv], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"trn {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def wait(what: str, check, timeout: float = 600.0, every: float = 0.5):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise SystemExit(f"gave up waiting for {what}")


def record(job_id: str, env: dict[str, str]) -> dict:
    return json.loads(trn("status", job_id, "--json", env=env))


def epochs_done(job_id: str, env: dict[str, str]) -> int:
    events = Path(record(job_id, env)["job_dir"]) / "events.jsonl"
    lines = events.read_text().splitlines() if events.exists() else []
    return sum('"phase":"epoch"' in line for line in lines)


def make_jobs(env: dict[str, str]) -> tuple[str, str]:
    """The sweep (ended) and the resumed job (running); their ids."""
    cosine = [*SMALL, "scheduler=cosine"]
    trn("run", "-m", *cosine, "trainer.max_epochs=3", "model.dropout=0.0,0.3", env=env)
    trn("run", "-m", *cosine, "trainer.max_epochs=6", "optimizer.lr=3e-4,1e-3,3e-3", env=env)
    # the learning rate halved every 5 epochs spans decades on its log axis; 400 epochs: still
    # running when the pictures are taken
    halving = [*SMALL, "scheduler=step", "scheduler.step_epochs=5", "scheduler.gamma=0.5"]
    long = ["trainer.max_epochs=400", "name=lr halved every 5 epochs"]
    started = trn("run", "--detach", "--json", *halving, *long, env=env)
    first = json.loads(started)["job_id"]
    wait("four epochs", lambda: epochs_done(first, env) >= 4)
    trn("cancel", first, env=env)
    wait("the cancel", lambda: record(first, env)["state"] == "cancelled")
    resumed = json.loads(trn("resume", first, "--detach", "--json", env=env))["job_id"]
    wait("the resumed job's epochs", lambda: epochs_done(resumed, env) >= 3)
    jobs = json.loads(trn("list", "--json", env=env))  # newest first: the lr sweep's
    return next(r["sweep_id"] for r in jobs if r.get("sweep_id")), resumed


def serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "sign in: " in line:
            return proc, line.split("sign in: ", 1)[1].split()[0]
    raise SystemExit("trn serve printed no sign-in link")


def browser():  # noqa: ANN201
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1360,1000")
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def shoot(driver, out: Path, ready: str) -> None:  # noqa: ANN001
    """Wait for the CSS selector ``ready``, then save the whole page (not just the window)."""
    from selenium.webdriver.common.by import By

    wait(ready, lambda: driver.find_elements(By.CSS_SELECTOR, ready), 120, 0.3)
    time.sleep(1.5)  # let the charts of the last refresh draw; a picture, not a test
    height, chrome = driver.execute_script(
        "return [Math.ceil(document.querySelector('main').getBoundingClientRect().bottom),"
        " window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(1360, height + chrome)
    time.sleep(0.5)
    driver.save_screenshot(str(out))
    driver.set_window_size(1360, 1000)
    print(out)


def main(out: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="trn-screens-")) / "outputs"
    # the server makes its own token in the new home
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRN_SERVE")}
    env["TRN_HOME"] = str(home)
    sweep_id, resumed = make_jobs(env)
    proc, link = serve(env)
    driver = browser()
    try:
        driver.get(link)
        shoot(driver, out / "serve-jobs.png", f"tr[data-job='{resumed}'] .progress[data-fraction]")
        driver.get(link.split("#")[0] + f"#/job/{resumed}")
        shoot(driver, out / "serve-dashboard.png", "#job-progress .progress[data-eta] ")
        driver.get(link.split("#")[0] + "#/sweeps")
        shoot(driver, out / "serve-sweeps.png", f"tr[data-sweep='{sweep_id}']")
        driver.get(link.split("#")[0] + f"#/sweep/{sweep_id}")
        shoot(driver, out / "serve-sweep.png", "#sweep-curves .chart[data-series='3']")
    finally:
        driver.quit()
        proc.terminate()
        if record(resumed, env)["state"] == "running":
            trn("cancel", resumed, env=env)
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
