"""Warm start (trn.warm): jobs forked from a parent that has torch and Lightning imported.

Real processes throughout: `trn run` and `trn warm` as a user's shell runs them, a real warm
parent on its Unix socket, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import FAST, ROOT, read_events, run_trn
from project_files import PACKAGE, make_project

import trn.warm.where
from trn.warm.where import place

pytestmark = pytest.mark.slow


def warm_place(home: Path):
    return place(home)


def home_parent() -> dict | None:
    """The parent serving this test's home, as ``trn warm status --json`` lists it."""
    listed = json.loads(run_trn("warm", "status", "--json").stdout)
    ours = [p for p in listed if p["this_home"] and p["state"] == "serving"]
    assert len(ours) <= 1, ours
    return ours[0] if ours else None


def ready_lines(home: Path) -> list[str]:
    log = warm_place(home).log
    return [line for line in log.read_text().splitlines() if " ready in " in line]


def completed(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed", record.get("error")
    return record


def job_started(record: dict) -> dict:
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    return next(e for e in events if e["event"] == "job_started")


def exits(pid: int, timeout: float) -> bool:
    """Does ``pid`` exit within ``timeout`` s? A zombie counts: a parent whose starter has gone
    is nobody's child to reap where PID 1 does not reap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def start_run(*overrides: str) -> subprocess.Popen:
    """``trn run --json OVERRIDES`` started, not waited for; :func:`finish` waits. Its stderr
    (a line per event) goes to a file: a pipe nobody reads fills, and the supervisor writing
    to it would stop keeping the record current."""
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "--json", *overrides],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        cwd=ROOT,
    )
    proc.err_file = err  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """What a :func:`start_run` process printed: stdout and stderr."""
    out, _ = proc.communicate(timeout=timeout)
    proc.err_file.seek(0)  # type: ignore[attr-defined]
    return out, proc.err_file.read()  # type: ignore[attr-defined]


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ask(path: Path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(payload)
        buffer = b""
        while b"\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                break
            buffer += data
    return json.loads(buffer.partition(b"\n")[0])


def test_a_run_starts_warm_and_the_next_reuses_the_parent(trn_home):
    first = completed(run_trn("run", "--json", *FAST))
    second = completed(run_trn("run", "--json", *FAST))
    assert first["start"] == second["start"] == "warm"
    started = job_started(second)
    assert started["start"] == "warm" and started["startup_s"] == second["startup_s"] > 0
    assert len(ready_lines(trn_home)) == 1  # one parent served both
    status = home_parent()
    assert status and status["runners"] == []
    assert status["peak_rss"] >= status["rss"] > status["private"] > 0
    assert not (set(second["warnings"]) | set(first["warnings"]))


def test_the_socket_is_owner_only_and_a_malformed_request_never_forks(trn_home):
    assert run_trn("warm", "start").returncode == 0
    where = warm_place(trn_home)
    assert stat.S_IMODE(where.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(where.socket.stat().st_mode) == 0o600
    pid = home_parent()["pid"]
    job_like = trn_home / "not-a-job"
    job_like.mkdir()
    bad = [
        b"this is not json\n",
        b'{"op": "format-disk"}\n',
        b'["spawn"]\n',
        b'{"op": "spawn", "job_dir": "relative/dir", "cwd": "/", "env": {}}\n',
        json.dumps({"op": "spawn", "job_dir": str(job_like), "cwd": "/", "env": {}}).encode()
        + b"\n",
    ]
    for payload in bad:
        reply = ask(where.socket, payload)
        assert reply["ok"] is False and reply["error"], payload
    assert children(pid) == []  # nothing was forked
    assert ask(where.socket, b'{"op": "ping"}\n')["ok"]  # and the parent serves on


def test_an_edited_user_module_is_seen_by_the_next_warm_run(trn_home, tmp_path):
    project = make_project(tmp_path / "proj")
    mark = tmp_path / "mark"
    env = {"PROJNET_MARK": str(mark)}
    first = completed(run_trn("run", "--json", "model=wide", *FAST, cwd=project, env=env))
    models = project / PACKAGE / "models.py"
    models.write_text(models.read_text().replace('f.write(f"built', 'f.write(f"edited built'))
    second = completed(run_trn("run", "--json", "model=wide", *FAST, cwd=project, env=env))
    assert first["start"] == second["start"] == "warm"
    assert len(ready_lines(trn_home)) == 1
    lines = mark.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("built") and lines[1].startswith("edited built")


def test_six_concurrent_runs_share_one_warm_parent(trn_home):
    procs = [start_run(*FAST) for _ in range(6)]
    records = []
    for proc in procs:
        out, err = finish(proc, 600)
        assert proc.returncode == 0, err[-2000:]
        records.append(json.loads(out))
    assert [r["state"] for r in records] == ["completed"] * 6
    assert {r["start"] for r in records} == {"warm"}
    assert len(ready_lines(trn_home)) == 1


def test_a_killed_warm_parent_loses_no_job(trn_home):
    """SIGKILL the parent while its runner trains: the runner, in its own session, goes on; the
    supervisor sees it end through a pidfd (here at a stop, to bound the test's time on a busy
    machine) and ends the job as its outcome says, adding that the exit status is unknown."""
    longer = [*FAST, "trainer.max_epochs=1000", "trainer.limit_train_batches=20"]  # until stopped
    proc = start_run(*longer)
    parent = None
    deadline = time.monotonic() + 120
    while parent is None and time.monotonic() < deadline:
        status = home_parent()
        if status and status["runners"]:
            parent = status["pid"]
        time.sleep(0.2)
    assert parent, "no runner was forked"
    os.kill(parent, signal.SIGKILL)
    assert exits(parent, 30)
    proc.send_signal(signal.SIGTERM)  # forwarded to the runner, which still trains
    out, err = finish(proc, 300)
    record = json.loads(out)
    assert record["state"] == "preempted" and record["start"] == "warm", err[-2000:]
    assert record["checkpoint"] and Path(record["checkpoint"]).exists()
    assert any("exit status is unknown" in w for w in record["warnings"])
    # the next job starts a new parent
    again = completed(run_trn("run", "--json", *FAST))
    assert again["start"] == "warm" and len(ready_lines(trn_home)) == 2


def test_sigterm_preempts_a_warm_runner_with_a_checkpoint(trn_home):
    longer = [*FAST, "trainer.max_epochs=1000", "trainer.limit_train_batches=20"]
    proc = start_run(*longer)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = json.loads(run_trn("list", "--json").stdout)
        if jobs and jobs[0].get("metrics"):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc, 120)
    record = json.loads(out)
    assert record["start"] == "warm"
    assert record["state"] == "preempted", record.get("error")
    assert record["checkpoint"] and Path(record["checkpoint"]).exists()


def test_a_stale_parent_is_replaced_before_it_forks(trn_home):
    """A file the parent imported changed since it started: it refuses, and a fresh parent
    (which imports the new file) forks the job."""
    assert run_trn("warm", "start").returncode == 0
    old = home_parent()["pid"]
    imported = Path(trn.warm.where.__file__)
    stamp = imported.stat()
    try:
        os.utime(imported, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
        record = completed(run_trn("run", "--json", *FAST))
    finally:
        os.utime(imported, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert record["start"] == "warm" and not record["warnings"]
    assert len(ready_lines(trn_home)) == 2
    assert home_parent()["pid"] != old
    assert exits(old, 10)  # the stale one exits once it has no runner


@pytest.mark.parametrize("how", ["TRN_WARM=0", "runner.warm=false"])
def test_warm_start_can_be_turned_off(trn_home, how):
    env = {"TRN_WARM": "0"} if how == "TRN_WARM=0" else {}
    args = [] if env else [how]
    record = completed(run_trn("run", "--json", *FAST, *args, env=env))
    assert record["start"] == "cold" and job_started(record)["start"] == "cold"
    assert not warm_place(trn_home).socket.exists()
    assert not record["warnings"]


def test_an_unusable_runtime_dir_starts_cold_with_a_warning(trn_home, tmp_path):
    runtime = tmp_path / "runtime"
    (runtime / f"trn-warm-{os.getuid()}").mkdir(parents=True, mode=0o755)
    os.chmod(runtime / f"trn-warm-{os.getuid()}", 0o755)  # others may enter: not for sockets
    record = completed(run_trn("run", "--json", *FAST, env={"XDG_RUNTIME_DIR": str(runtime)}))
    assert record["start"] == "cold"
    assert any("warm start unavailable" in w and "0700" in w for w in record["warnings"])


def test_warm_commands(trn_home):
    none = run_trn("warm", "status")  # other tests' parents may be listed, not this home's
    assert none.returncode == 0 and "trn run starts one" in none.stdout and home_parent() is None
    assert run_trn("warm", "start").returncode == 0
    shown = run_trn("warm", "status")
    assert "warm parent" in shown.stdout and "memory" in shown.stdout
    pid = home_parent()["pid"]
    stopped = run_trn("warm", "stop")
    assert stopped.returncode == 0 and str(pid) in stopped.stdout
    assert home_parent() is None


def test_a_parent_that_refuses_to_fork_means_a_cold_start_with_a_warning(trn_home):
    """A parent whose BLAS started threads at import (a fork would keep one of them) refuses
    every spawn; the job starts cold and says why."""
    where = warm_place(trn_home)
    where.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "4"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "trn.warm.parent", str(where.socket), str(where.home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    try:
        deadline = time.monotonic() + 120
        while not where.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        record = completed(run_trn("run", "--json", *FAST))
        assert record["start"] == "cold"
        assert any("unsafe to fork" in w and "threads" in w for w in record["warnings"])
        assert children(parent.pid) == []
    finally:
        parent.terminate()
        parent.wait(30)


ARGV_PROBE = """
import json, os, sys

from torch import nn


class Probe(nn.Module):
    '''Appends, for each process that builds it, its rank, argv and command line.'''

    def __init__(self, in_features, num_classes):
        super().__init__()
        with open(os.environ["PROBE_MARK"], "a") as f:
            cmdline = open("/proc/self/cmdline").read().split("\\0")[:-1]
            rank = int(os.environ.get("LOCAL_RANK", "0"))
            line = {"rank": rank, "argv": sys.argv, "cmdline": cmdline, "ppid": os.getppid()}
            f.write(json.dumps(line) + "\\n")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x):
        return self.net(x)
"""


def test_ddp_ranks_of_a_warm_runner_start_as_python_m_trn_runner(trn_home, tmp_path):
    """Rank 0 is forked; Lightning starts rank 1 from the command line the fork took on, which
    must be the runner's, not the warm parent's."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text(ARGV_PROBE)
    mark = tmp_path / "ranks.jsonl"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "PROBE_MARK": str(mark)}
    model = ["~model", "+model._target_=probe.Probe", "allow_targets=[probe.]"]
    record = completed(run_trn("run", "--json", *FAST, *model, "devices.processes=2", env=env))
    assert record["start"] == "warm"
    ranks = {r["rank"]: r for r in map(json.loads, mark.read_text().splitlines())}
    assert sorted(ranks) == [0, 1]
    runner_main = str(ROOT / "trn" / "runner" / "__main__.py")
    assert ranks[0]["argv"] == ranks[1]["argv"] == [runner_main, record["job_dir"]]
    assert ranks[1]["cmdline"][1:] == ["-m", "trn.runner.__main__", record["job_dir"]]
    assert ranks[0]["ppid"] == home_parent()["pid"]  # rank 0 was forked by the warm parent


FLAGS_PROBE = """
import json, os, sys

from torch import nn


class Probe(nn.Module):
    '''Appends the interpreter's hash randomisation flag of the process that builds it.'''

    def __init__(self, in_features, num_classes):
        super().__init__()
        with open(os.environ["PROBE_MARK"], "a") as f:
            f.write(json.dumps({"hash_randomization": sys.flags.hash_randomization}) + "\\n")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x):
        return self.net(x)
"""


def test_a_variable_read_at_start_up_gets_a_parent_started_with_it(trn_home, tmp_path):
    """PYTHONHASHSEED is read when Python starts: a job that sets it must not be forked from a
    parent that started without it, and it need not start cold either."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text(FLAGS_PROBE)
    mark = tmp_path / "flags.jsonl"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "PROBE_MARK": str(mark)}
    model = ["~model", "+model._target_=probe.Probe", "allow_targets=[probe.]"]
    plain = completed(run_trn("run", "--json", *FAST, *model, env=env))
    seeded = completed(run_trn("run", "--json", *FAST, *model, env={**env, "PYTHONHASHSEED": "0"}))
    assert plain["start"] == seeded["start"] == "warm"
    flags = [json.loads(line)["hash_randomization"] for line in mark.read_text().splitlines()]
    assert flags == [1, 0]
    assert len(list((trn_home / "warm").glob("*.log"))) == 2  # one parent each


POOLS_PROBE = """
import json, os

import torch
from threadpoolctl import threadpool_info
from torch import nn


class Probe(nn.Module):
    '''Appends the sizes of the thread pools of the process that builds it.'''

    def __init__(self, in_features, num_classes):
        super().__init__()
        blas = [p["num_threads"] for p in threadpool_info() if p["internal_api"] == "openblas"]
        with open(os.environ["PROBE_MARK"], "a") as f:
            omp = int(os.environ["OMP_NUM_THREADS"])
            f.write(json.dumps({"blas": blas, "torch": torch.get_num_threads(), "omp": omp}))
            f.write("\\n")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x):
        return self.net(x)
"""


def test_a_warm_runner_has_the_thread_pools_of_a_cold_one(trn_home, tmp_path):
    """The parent imports NumPy's and SciPy's BLAS held to one thread; a job's take the count
    its ``OMP_NUM_THREADS`` asks for (a CPU each here), as they do in a fresh Python."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text(POOLS_PROBE)
    mark = tmp_path / "pools.jsonl"
    env = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "PROBE_MARK": str(mark),
    }
    model = ["~model", "+model._target_=probe.Probe", "allow_targets=[probe.]"]
    warm = completed(run_trn("run", "--json", *FAST, *model, env=env))
    cold = completed(run_trn("run", "--json", *FAST, *model, env={**env, "TRN_WARM": "0"}))
    assert (warm["start"], cold["start"]) == ("warm", "cold")
    pools = [json.loads(line) for line in mark.read_text().splitlines()]
    assert pools[0] == pools[1], pools
    assert set(pools[0]["blas"]) == {pools[0]["omp"]} == {pools[0]["torch"]}, pools


def test_trn_warm_start_replaces_a_stale_parent(trn_home):
    assert run_trn("warm", "start").returncode == 0
    old = home_parent()["pid"]
    imported = Path(trn.warm.where.__file__)
    stamp = imported.stat()
    try:
        os.utime(imported, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
        stale = home_parent()
        assert stale["pid"] == old and stale["stale"].endswith("where.py")
        assert run_trn("warm", "start").returncode == 0
        fresh = home_parent()
    finally:
        os.utime(imported, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert fresh["pid"] != old and not fresh["stale"]


def test_a_home_where_the_parent_cannot_log_starts_cold_with_a_warning(trn_home):
    trn_home.mkdir(parents=True)
    (trn_home / "warm").write_text("a file where the warm parent's log dir would go")
    record = completed(run_trn("run", "--json", *FAST))
    assert record["start"] == "cold"
    assert any("warm start unavailable" in w and "warm" in w for w in record["warnings"])


def test_an_idle_parent_exits_on_its_own(trn_home):
    assert run_trn("warm", "start", env={"TRN_WARM_IDLE_S": "2"}).returncode == 0
    status = home_parent()
    assert status and status["idle_s"] == 2
    assert exits(status["pid"], 60)
    assert home_parent() is None
    assert "idle for 2 s: exiting" in warm_place(trn_home).log.read_text()
