"""Shared fixtures: a private $TRN_HOME per test, and ways to call the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _sigint_as_a_shell_leaves_it():
    """pytest-xdist's workers ignore SIGINT, and an ignored signal stays ignored in every program
    they start: a test's child that installs no handler of its own (``sleep``) would never see the
    Ctrl-C the test sends. The processes the tests start get it as a shell leaves it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _warm_parents(tmp_path_factory):
    """Jobs start warm by default (trn.warm): one parent per $TRN_HOME, and every test has its
    own home. Their sockets go in this session's own runtime dir, they exit soon when idle, and
    the ones still up are stopped when the session ends."""
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "TRN_WARM_IDLE_S")}
    os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    os.environ.setdefault("TRN_WARM_IDLE_S", "30")
    yield
    from trn.warm.parents import parents, stop

    for parent in parents():  # each waited for, so none outlives the session (.ci/run checks)
        stop(parent)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def trn_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty $TRN_HOME for this test (also inherited by subprocesses)."""
    home = tmp_path / "trn-home"
    monkeypatch.setenv("TRN_HOME", str(home))
    return home


@pytest.fixture
def cli(capsys):
    """Call ``trn`` in-process: ``code, out, err = cli("list", "--json")``."""
    from trn.cli.main import main

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


# The longest a test waits for something a busy machine is slow to do: a process to start or
# exit, a job to reach a state, a line to appear. A ceiling, never a duration: every wait polls its
# condition and returns the moment it holds, so an idle machine never waits it out. CI's 2 cores
# may be shared with other work (a loaded run took 3-4x an idle one); TRN_TEST_PATIENCE scales it.
PATIENCE = 300.0 * float(os.environ.get("TRN_TEST_PATIENCE", "1"))


def wait_until(predicate, what: str, timeout: float = PATIENCE, every: float = 0.05):
    """``predicate()``'s first truthy value, polled every ``every`` seconds; AssertionError naming
    ``what`` if none comes within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(every)


def run_trn(
    *argv: str,
    env: dict[str, str] | None = None,
    timeout: float = PATIENCE,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m trn ARGV`` as a real process (what a user's shell does)."""
    return subprocess.run(
        [sys.executable, "-m", "trn", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
    )


def expected_start() -> str:
    """How a local job's runner starts in this test run: forked warm unless ``TRN_WARM=0``
    (CI runs the end-to-end tests both ways)."""
    return "cold" if os.environ.get("TRN_WARM") == "0" else "warm"


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def assert_series_close(got, want, rel: float = 1e-6, what: str = "") -> None:
    """``got`` and ``want`` are sequences of ``(step, value)``: the same steps, in the same order,
    and values equal to ``rel``. pytest.approx takes no nested sequences (pytest 9.2 raises)."""
    assert [s for s, _ in got] == [s for s, _ in want], what
    for (step, value), (_, expected) in zip(got, want):
        assert value == pytest.approx(expected, rel=rel), f"{what} at step {step}"


# Settings that shrink the real composed config to a seconds-long CPU run.
FAST = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
]


# -- a real redis-server on a free port, for the Redis Streams event sink -----------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """``redis-server`` in a temp dir; AOF on, so a restart keeps the stream (no event lost)."""

    def __init__(self, workdir: Path, port: int | None = None, args: list[str] | None = None):
        self.workdir, self.port, self.args = workdir, port or free_port(), list(args or [])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import shutil

        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url).ping())
            except redis.AuthenticationError:
                return True  # up, and asking for a password
            except redis.ConnectionError:
                assert self.proc.poll() is None, f"redis-server exited {self.proc.returncode}"
                return False

        wait_until(up, f"redis-server answering on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes its AOF and exits
            self.proc.wait(timeout=PATIENCE)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server for this test (skips, saying why, when redis-server is missing)."""
    import shutil

    if not shutil.which("redis-server"):
        pytest.skip("redis-server not on PATH (apt-get install redis-server)")
    pytest.importorskip("redis", reason="the redis client is missing (pip install 'trn[redis]')")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
