"""trn.proc: a pid is alive only while its process runs, is no zombie, and (given the start time
it had when recorded) is still the same process; killpg reaches the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import wait_until

from trn import proc

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_a_running_child_is_alive_with_and_without_its_start_time():
    child = subprocess.Popen(SLEEPER)
    try:
        started = proc.start_time(child.pid)
        assert started is not None and started.isdigit()
        assert proc.alive(child.pid) and proc.alive(child.pid, started)
    finally:
        child.kill()
        child.wait()
    assert not proc.alive(child.pid, started)  # reaped: gone


def test_a_zombie_child_counts_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # never waited for: it stays a zombie; kill(pid, 0) still answers for it
    wait_until(lambda: _state(child.pid) == "Z", "the child to exit unreaped")
    os.kill(child.pid, 0)
    assert not proc.alive(child.pid)
    child.wait()


def test_a_reused_pid_with_another_start_time_counts_dead():
    """A record of a dead process whose pid now names another: the start times differ."""
    child = subprocess.Popen(SLEEPER)
    try:
        started = proc.start_time(child.pid)
        assert started is not None
        earlier = str(int(started) - 1)  # the process the record meant started before this one
        assert not proc.alive(child.pid, earlier)
        assert proc.alive(child.pid, started)
    finally:
        child.kill()
        child.wait()


def test_no_pid_and_another_users_process():
    assert not proc.alive(None) and not proc.alive(0) and not proc.alive(-1)
    assert proc.alive(1)  # init: exists though not ours to signal (or ours, in a container)
    assert proc.alive(os.getpid(), proc.start_time(os.getpid()))


def test_killpg_reaches_the_group_and_ignores_a_gone_one():
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "print(flush=True); time.sleep(600)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert leader.stdout is not None
    leader.stdout.readline()  # its own child is started
    members = _group(leader.pid)
    assert len(members) == 2
    proc.killpg(leader.pid, signal.SIGKILL)
    leader.wait()
    wait_until(lambda: not any(proc.alive(p) for p in members), "every member of the group gone")
    proc.killpg(leader.pid, signal.SIGKILL)  # gone: no error


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None


def _group(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def test_a_job_whose_supervisor_pid_now_names_another_process_is_lost():
    """The record keeps its supervisor's start time: a live process that took the pid over is
    not the supervisor, so the job shows lost (and trn cancel ends it instead of signalling a
    stranger)."""
    import socket
    from dataclasses import replace

    from trn.registry.record import JobRecord, effective_state

    me, started = os.getpid(), proc.start_time(os.getpid())
    record = JobRecord("j", "/d", state="running", host=socket.gethostname(), pid=me)
    record.pid_start = started
    assert effective_state(record) == "running"
    assert effective_state(replace(record, pid_start=str(int(started or 0) + 1))) == "lost"
    assert effective_state(replace(record, pid_start=None)) == "running"  # a record from before


def test_catching_hands_each_signal_to_its_function_then_puts_the_old_handlers_back():
    import threading

    before = signal.getsignal(signal.SIGUSR1)
    caught: list[int] = []
    with proc.catching((signal.SIGUSR1, signal.SIGUSR2), caught.append):
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_until(lambda: len(caught) == 2, "both signals handled")
    assert caught == [signal.SIGUSR2, signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) is before
    # off the main thread it sets nothing (Python could not): the main thread's owner keeps them
    seen: list[object] = []

    def elsewhere() -> None:
        with proc.catching((signal.SIGUSR1,), caught.append):
            seen.append(signal.getsignal(signal.SIGUSR1))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [before]
