"""Every warm parent a user has: `trn warm status` lists them, `trn warm stop` ends them, and
their number and lifetime are bounded.

Real processes throughout: projects written into temp dirs outside the repo (one by `trn init`,
as a new user makes it), `trn run` and `trn warm` as a shell runs them in those directories,
real warm parents, real runners. Whether a parent is gone is read from /proc, not from trn."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST
from project_files import make_project

from trn.warm.parents import exits

pytestmark = pytest.mark.slow

LONG = ["trainer.max_epochs=1000", "trainer.limit_train_batches=20"]  # runs until stopped


def trn(*argv: str, cwd: Path, home: Path | None = None, **env: str):
    """``python -m trn ARGV`` in ``cwd``, as a shell there runs it; ``home``: ``TRN_HOME``,
    else unset (the project's ``./outputs``)."""
    environ = {k: v for k, v in os.environ.items() if k != "TRN_HOME"}
    # a parent outlives a busy machine's slow planning between two jobs (the session's is 30 s)
    environ["TRN_WARM_IDLE_S"] = "600"
    if home is not None:
        environ["TRN_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "trn", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        env={**environ, **env},
        cwd=cwd,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def job(*argv: str, cwd: Path, home: Path | None = None, **env: str) -> dict:
    proc = trn("run", "--json", *FAST, *argv, cwd=cwd, home=home, **env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed", record.get("error")
    return record


def listed(cwd: Path, home: Path | None = None, **env: str) -> list[dict]:
    """`trn warm status --json`: every parent of this session (earlier tests' idle ones too)."""
    proc = trn("warm", "status", "--json", cwd=cwd, home=home, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def of(parents: list[dict], *homes: Path) -> list[dict]:
    """The parents serving ``homes``."""
    wanted = {str(h.resolve()) for h in homes}
    return [p for p in parents if p["home"] in wanted]


def parent_pids() -> set[int]:
    """The warm parents running now whose socket is in this test session's runtime dir, read
    from /proc (a zombie has no command line: it counts as gone)."""
    runtime = os.environ["XDG_RUNTIME_DIR"]
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"trn.warm.parent" in argv and any(a.startswith(runtime.encode()) for a in argv):
            found.add(int(entry.name))
    return found


def ready_pids(home: Path) -> list[int]:
    """The parents started for ``home``, from their logs (``warm parent PID ready in ...``)."""
    lines = [line for line in logs(home).splitlines() if " ready in " in line]
    return [int(line.split()[2]) for line in lines]


def only_parent(home: Path) -> int:
    """The one parent ever started for ``home``."""
    pids = ready_pids(home)
    assert len(pids) == 1, logs(home)
    return pids[0]


def logs(home: Path) -> str:
    return "".join(log.read_text() for log in sorted((home / "warm").glob("*.log")))


def init_project(root: Path) -> Path:
    """A project as `trn init` makes it: ``model=NAME data=NAME`` train its own module."""
    proc = trn("init", str(root), cwd=root.parent)
    assert proc.returncode == 0, proc.stderr
    return root


def until(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_projects_parent_is_shown_and_stopped_from_the_project(tmp_path):
    project = init_project(tmp_path / "p1")
    home = project / "outputs"  # no TRN_HOME: the project's ./outputs, as a new user has it
    # started ahead from the shell, it is the parent the project's job asks for: the variables
    # a job's environment has and the shell's lacks (what planning's imports set, the thread
    # policy trn gives every job) name no other
    assert trn("warm", "start", cwd=project).returncode == 0
    record = job("model=p1", "data=p1", cwd=project)
    assert record["start"] == "warm" and not record["warnings"]
    pid = only_parent(home)
    assert pid in parent_pids()

    [shown] = of(listed(project), home)
    assert shown["pid"] == pid and shown["this_home"] and shown["this_project"]
    assert shown["home"] == str(home.resolve()) and shown["projects"] == [str(project)]
    assert shown["state"] == "serving" and shown["runners"] == []
    assert 0 < shown["private"] < shown["rss"]
    text = trn("warm", "status", cwd=project).stdout
    assert f"* warm parent {pid} (this home, this project), serving" in text
    assert str(project) in text and "its own" in text

    stopped = trn("warm", "stop", cwd=project)
    assert stopped.returncode == 0 and f"stopped warm parent {pid}" in stopped.stdout
    assert pid not in parent_pids()  # gone when the command returned
    again = trn("warm", "stop", cwd=project)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
    assert of(listed(project), home) == []


def test_two_projects_and_the_bundled_model_share_their_homes_parent_and_stop_all_ends_every_one(
    tmp_path,
):
    """What planning imports sets variables in the job's environment (Lightning's
    PYTORCH_NVML_BASED_CUDA_CHECK, torch's TORCHINDUCTOR_CACHE_DIR): they must not make a
    project's jobs, the bundled model's and `trn warm` each look for a parent of their own."""
    home, other_home = tmp_path / "home", tmp_path / "other-home"
    first = init_project(tmp_path / "p1")
    second = make_project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"  # no pyproject.toml above it: trn's own configs
    elsewhere.mkdir()
    starts = [
        job("model=p1", "data=p1", cwd=first, home=home)["start"],
        job("model=wide", cwd=second, home=home)["start"],
        job(cwd=elsewhere, home=home)["start"],
    ]
    assert starts == ["warm"] * 3
    pid = only_parent(home)  # one parent served all three
    [shown] = of(listed(first, home), home)
    assert shown["pid"] == pid and shown["this_home"] and shown["this_project"]
    assert set(shown["projects"]) == {str(first), str(second), None}
    assert of(listed(elsewhere, home), home)[0]["this_project"]  # it ran the bundled model too

    assert job(cwd=elsewhere, home=other_home)["start"] == "warm"
    other = only_parent(other_home)
    both = of(listed(first, home), home, other_home)
    assert [(p["pid"], p["this_home"]) for p in both] == [(pid, True), (other, False)]
    text = trn("warm", "status", cwd=first, home=home).stdout
    assert f"* warm parent {pid}" in text and f"  warm parent {other}" in text
    assert " warm parents of yours hold " in text

    assert trn("warm", "stop", cwd=elsewhere, home=tmp_path / "no-such-home").stdout.startswith(
        "no warm parent is running for"
    )  # another home's stop ends neither
    assert {pid, other} <= parent_pids()
    stopped = trn("warm", "stop", "--all", cwd=elsewhere)
    assert stopped.returncode == 0
    assert f"stopped warm parent {pid}" in stopped.stdout
    assert f"stopped warm parent {other}" in stopped.stdout
    assert parent_pids().isdisjoint({pid, other})
    assert of(listed(elsewhere), home, other_home) == []


def test_the_limit_retires_the_least_recently_used_idle_parent(tmp_path):
    homes = [tmp_path / f"home{i}" for i in (1, 2, 3)]
    limit = {"TRN_WARM_MAX": "2"}
    for home in homes[:2]:
        assert trn("warm", "start", cwd=tmp_path, home=home, **limit).returncode == 0
    first, second = only_parent(homes[0]), only_parent(homes[1])
    # the first home's parent forks a job after the second started: the second is the least
    # recently used, though the younger; a status (a ping to each) uses neither
    assert job(cwd=tmp_path, home=homes[0], **limit)["start"] == "warm"
    listed(tmp_path, homes[1])
    assert trn("warm", "start", cwd=tmp_path, home=homes[2], **limit).returncode == 0
    third = only_parent(homes[2])
    assert exits(second, 60)
    serving = {p["pid"]: p["home"] for p in of(listed(tmp_path, **limit), *homes)}
    assert serving == {first: str(homes[0]), third: str(homes[2])}, logs(homes[0])


def test_a_parent_with_a_running_job_is_never_killed(tmp_path):
    """With the limit reached by a busy parent, another home's job starts cold (saying why);
    `trn warm stop` lets the busy parent's job run on to its end (here a cancel, to bound the
    test's time), whose exit status its supervisor still gets, and only then does it exit."""
    busy, other = tmp_path / "busy", tmp_path / "other"
    limit = {"TRN_WARM_MAX": "1"}
    out = open(tmp_path / "run.stderr", "w")  # a pipe nobody reads would fill
    running = subprocess.Popen(
        [sys.executable, "-m", "trn", "run", "--json", *FAST, *LONG],
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TRN_HOME": str(busy), **limit},
    )
    try:
        assert until(lambda: any(p["runners"] for p in of(listed(tmp_path, busy), busy)), 300)
        pid = only_parent(busy)
        cold = job(cwd=tmp_path, home=other, **limit)
        assert cold["start"] == "cold"
        assert any("TRN_WARM_MAX=1" in w for w in cold["warnings"]), cold["warnings"]
        assert pid in parent_pids()

        stopped = trn("warm", "stop", cwd=tmp_path, home=busy)
        assert stopped.returncode == 0
        assert f"warm parent {pid} takes no more jobs and exits when its 1 running" in (
            stopped.stdout
        )
        [shown] = of(listed(tmp_path, busy), busy)
        assert shown["pid"] == pid and shown["state"] == "retiring" and shown["runners"]
        assert pid in parent_pids()
        assert not exits(pid, 2)  # still there: its job runs on
        running.send_signal(signal.SIGTERM)  # the job's end: stopped at a step, with a checkpoint
        stdout, _ = running.communicate(timeout=300)
    finally:
        if running.poll() is None:
            running.kill()
        out.close()
    record = json.loads(stdout)
    assert record["state"] == "preempted" and record["start"] == "warm", record.get("error")
    assert record["checkpoint"] and isinstance(record["exit_code"], int)
    assert not any("exit status is unknown" in w for w in record["warnings"])
    assert exits(pid, 60)


def test_a_parent_exits_when_its_home_is_deleted(tmp_path):
    home = tmp_path / "home"
    assert trn("warm", "start", cwd=tmp_path, home=home).returncode == 0
    pid = only_parent(home)
    shutil.rmtree(home)
    assert exits(pid, 60)
    assert of(listed(tmp_path, home), home) == []


def test_bad_input_is_one_line_and_nothing_to_stop_is_not_an_error(tmp_path):
    home = tmp_path / "home"
    nothing = trn("warm", "stop", cwd=tmp_path, home=home)
    assert nothing.returncode == 0 and "nothing to stop" in nothing.stdout
    assert trn("warm", "stop", "--all", cwd=tmp_path, home=home).returncode == 0
    for argv, env, named in [
        (["stop", "--bogus"], {}, "--bogus"),
        (["status", "--all"], {}, "--all"),
        (["frob"], {}, "frob"),
        (["start"], {"TRN_WARM_MAX": "0"}, "TRN_WARM_MAX=0"),
        (["start"], {"TRN_WARM_IDLE_S": "soon"}, "TRN_WARM_IDLE_S=soon"),
    ]:
        proc = trn("warm", *argv, cwd=tmp_path, home=home, **env)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr, proc.stderr
    assert not home.exists()  # nothing made
    # a job is never failed by a bad setting: it starts cold and says why
    record = job(cwd=tmp_path, home=home, TRN_WARM_MAX="many")
    assert record["start"] == "cold"
    assert any("TRN_WARM_MAX=many" in w for w in record["warnings"])


IDENTITY = """
import json, os, sys
from pathlib import Path
from trn.warm.where import SET_BY_IMPORTS, import_env, key

home = Path(sys.argv[1])
shell = dict(os.environ)
from trn.warm.preload import preload
preload()  # everything a warm parent imports
import lightning.pytorch as pl
from torch._inductor.runtime.cache_dir_utils import cache_dir
pl.seed_everything(0)
cache_dir()
set_here = sorted(k for k in os.environ if os.environ[k] != shell.get(k))
print(json.dumps({
    "same": key(home, shell) == key(home, os.environ),
    "set": set_here,
    "keyed": sorted(set(import_env(os.environ)) - set(import_env(shell))),
    "listed": list(SET_BY_IMPORTS),
}))
"""


def test_what_importing_torch_and_lightning_sets_does_not_change_the_parent(tmp_path):
    """In a fresh interpreter (pytest's may have imported torch already)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_NVML_BASED_CUDA_CHECK",)}
    env = {k: v for k, v in env.items() if not k.startswith(("TORCHINDUCTOR_", "PL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", IDENTITY, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "PYTORCH_NVML_BASED_CUDA_CHECK" in seen["set"]  # the imports did set variables
    assert seen["keyed"] == [] and seen["same"], seen


def test_a_parent_of_an_older_trn_is_listed_with_what_it_says(tmp_path):
    """After an upgrade, a parent started by the older trn answers pings with fewer fields: it
    is listed (and can be stopped), what it did not say shown as unknown."""
    from trn.warm.protocol import ParentInfo

    older = {"ok": True, "pid": 4321, "started": 1.0e9, "python": "/venv/bin/python"}
    older |= {
        "runners": [],
        "idle_s": 900.0,
        "problems": [],
        "stale": None,
        "rss": 5,
        "peak_rss": 6,
    }
    info = ParentInfo.from_dict(older, tmp_path / "abc.sock")
    assert (info.pid, info.home, info.private, info.state) == (4321, None, None, "serving")
    assert info.socket == str(tmp_path / "abc.sock") and info.last_active == 1.0e9
    with pytest.raises(KeyError):
        ParentInfo.from_dict({"ok": True, "pid": 1}, tmp_path / "abc.sock")
