"""``python -m trn.warm.parent SOCKET HOME``: the warm parent of ``HOME`` (see :mod:`trn.warm`).

One thread, one loop: accept connections on ``SOCKET``, answer pings, fork a runner per spawn
request, reap runners (``SIGCHLD`` wakes the loop) and tell each one's supervisor its exit
status. :meth:`Parent.serve` returns only in a forked child, with its request, after closing
everything of the parent's; :func:`main` then runs the job there, on a clean stack, and the
child exits as a cold runner does (:func:`trn.runner.shutdown.exit_process`).

It never exits under a running runner (that would lose the runner's exit status): told to
stop, found stale, or its home or socket gone, it *retires*: takes no more jobs, answers on
its retiring socket (:func:`trn.warm.where.retiring_socket`), and exits when its last runner
has ended.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from trn.warm import protocol
from trn.warm.preload import module_files, preload
from trn.warm.where import idle_s, retiring_socket

MAX_PROJECTS = 8  # the project roots a status lists, latest first


class Parent:
    def __init__(self, path: Path, home: Path, problems: list[str]):
        self.path, self.home, self.problems = path, home, problems
        self.started, self.last_active = time.time(), time.time()  # active: forks, runner ends
        self.idle_s = idle_s()
        self.stamps = module_files()
        self.projects: list[str | None] = []  # of the jobs it forked, latest first
        # sys.path as every job starts it: the job's cwd and PYTHONPATH go in front
        ours = set(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
        self.base_path = [p for p in sys.path[1:] if p not in ours]
        self.children: dict[int, socket.socket | None] = {}  # runner pid -> its supervisor
        self.buffers: dict[socket.socket, bytes] = {}
        self.retired: str | None = None  # why it takes no more jobs; it exits after its runners
        self.stopping = False  # exit now (no runner runs)
        self.signalled: int | None = None  # SIGTERM or SIGINT: stop as `trn warm stop` does
        self.selector = selectors.DefaultSelector()
        self.listener = self._listen(path)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "listen")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")

    def _listen(self, path: Path) -> socket.socket:
        """Bind beside ``path`` (mode 0600 from the start) and rename over it: a client sees the
        old socket or the new one, never none, and a dead parent's file is replaced."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        old = os.umask(0o177)
        try:
            sock.bind(str(tmp))
        finally:
            os.umask(old)
        sock.listen(64)
        os.replace(tmp, path)
        self.inode = os.stat(path).st_ino
        sock.setblocking(False)
        return sock

    def _stop(self, signum: int, frame: Any) -> None:
        self.signalled = signum  # acted on by the loop: a handler could interrupt it anywhere

    # -- the loop -------------------------------------------------------------------------------
    def serve(self) -> dict[str, Any] | None:
        """Serve until stopped or idle; in a forked child, return its spawn request."""
        while not self.stopping:
            if self.signalled:
                self.retire(f"{signal.Signals(self.signalled).name} received")
            self._watch()
            if self.retired and not self.children:
                print(f"exiting: {self.retired}", flush=True)
                break
            if not self.children and time.time() - self.last_active > self.idle_s:
                print(f"idle for {self.idle_s:.0f} s: exiting", flush=True)
                break
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    self._drain_wakeups()
                else:
                    request = self._read(key.fileobj)  # type: ignore[arg-type]
                    if request is not None:  # we are the forked child
                        return request
            self._reap()
        self._unlink()
        return None

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        if protocol.peer_uid(conn) != os.getuid():  # the 0600 socket should make this impossible
            conn.close()
            return
        conn.setblocking(False)
        self.buffers[conn] = b""
        self.selector.register(conn, selectors.EVENT_READ, "conn")

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _read(self, conn: socket.socket) -> dict[str, Any] | None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data = b""
        if not data:  # the supervisor went away; its runner runs on
            self._forget(conn)
            return None
        buffer = self.buffers.get(conn, b"") + data
        if b"\n" not in buffer and len(buffer) > protocol.MAX_LINE:
            self._reply(conn, {"ok": False, "error": "request too long"}, close=True)
            return None
        while b"\n" in buffer and conn in self.buffers:
            line, _, buffer = buffer.partition(b"\n")
            self.buffers[conn] = buffer
            try:
                request = self._handle(conn, protocol.decode(line))
            except protocol.BadRequest as err:
                self._reply(conn, {"ok": False, "error": str(err)}, close=True)
                return None
            if request is not None:  # we are the forked child
                return request
        if conn in self.buffers:
            self.buffers[conn] = buffer
        return None

    def _handle(self, conn: socket.socket, message: dict[str, Any]) -> dict[str, Any] | None:
        op = message["op"]
        if op == "ping":
            self._reply(conn, self.status())
        elif op == "stop":  # never under a running runner: its supervisor waits for its status
            runners = sorted(self.children)
            if runners:
                self.retire("stopped (trn warm stop) once its runners end")
            else:
                self.stopping = True
            self._reply(conn, {"ok": True, "pid": os.getpid(), "runners": runners}, close=True)
        elif op == "spawn":
            request = protocol.check_spawn(message)
            refusal = self._refusal()
            if refusal:
                self._reply(conn, {"ok": False, "error": refusal}, close=True)
                return None
            return self._fork(conn, request)
        return None

    def _refusal(self) -> str | None:
        if self.problems:
            return "unsafe to fork: " + "; ".join(self.problems)
        if self.retired or self.stopping:
            return f"stale: it is exiting ({self.retired or 'stopped'})"
        changed = self.changed()
        if changed:
            self.retire(f"stale: {changed} changed since it started")
            return f"stale: {changed} changed since it started"
        return None

    def changed(self) -> str | None:
        now = module_files()
        for path, stamp in self.stamps.items():
            if now.get(path) != stamp:
                return path
        return None

    def retire(self, why: str) -> None:
        """Take no more jobs and free the socket's name for a new parent, still answering
        pings and stops on the retiring socket; exit when the last runner has ended."""
        if self.retired:
            return
        self.retired = why
        print(f"retiring: {why}", flush=True)
        retiring = retiring_socket(self.path, os.getpid())
        try:
            if self._ours():
                os.rename(self.path, retiring)  # the listener goes on, under the new name
            else:  # removed or taken over: listen anew where status and stop will look
                self.selector.unregister(self.listener)
                self.listener.close()
                self.listener = self._listen(retiring)
                self.selector.register(self.listener, selectors.EVENT_READ, "listen")
        except OSError as err:
            print(f"cannot listen on {retiring}: {err}", flush=True)
            return
        self.path = retiring

    def _watch(self) -> None:
        """Retire when the home it serves was deleted or its socket is no longer its own."""
        if self.retired:
            return
        if not self.home.is_dir():
            self.retire(f"its home {self.home} was deleted")
        elif not self._ours():
            self.retire(f"its socket {self.path} was removed or replaced")

    def _ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _fork(self, conn: socket.socket, request: dict[str, Any]) -> dict[str, Any] | None:
        sys.stdout.flush()
        sys.stderr.flush()
        # A child's collections leave the parent's objects alone: their pages stay shared, and
        # the few hundred thousand of them are not walked again by each runner.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            self._become_child()
            return {**request, "base_path": self.base_path}
        self.children[pid] = conn
        self.last_active = time.time()
        project = request["project"]
        self.projects = [project, *(p for p in self.projects if p != project)][:MAX_PROJECTS]
        self._reply(conn, {"ok": True, "pid": pid})
        print(f"forked {pid} for {request['job_dir']}", flush=True)
        return None

    def _become_child(self) -> None:
        """Drop everything of the parent's: its sockets, loop, wakeup pipe and handlers."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for conn in list(self.buffers):
            conn.close()
        self.listener.close()
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.last_active = time.time()
            if conn is not None:
                self._reply(conn, {"exit": os.waitstatus_to_exitcode(status)}, close=True)

    def _reply(self, conn: socket.socket, message: dict[str, Any], close: bool = False) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(5)
            conn.sendall(protocol.encode(message))
            conn.setblocking(False)
        except OSError:
            close = True
        if close:
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        for pid, owner in self.children.items():
            if owner is conn:
                self.children[pid] = None
        if conn in self.buffers:
            del self.buffers[conn]
            self.selector.unregister(conn)
        conn.close()

    def _unlink(self) -> None:
        try:
            if self._ours():
                os.unlink(self.path)
        except OSError:
            pass

    def status(self) -> dict[str, Any]:
        info = protocol.ParentInfo(
            pid=os.getpid(),
            home=str(self.home),
            python=sys.executable,
            socket=str(self.path),
            started=self.started,
            last_active=self.last_active,
            idle_s=self.idle_s,
            runners=sorted(self.children),
            projects=list(self.projects),
            state="retiring" if self.retired else "serving",
            why=self.retired,
            stale=self.changed(),
            problems=self.problems,
            **_memory(),
        )
        return {"ok": True, **info.to_dict()}


def _memory() -> dict[str, int]:
    """Bytes of memory: its own (anonymous: what it made, freed once it and its runners have
    ended; the libraries' file pages are the page cache's, not counted), resident, and peak
    resident."""
    kib = {}
    for path, names in (
        ("/proc/self/smaps_rollup", ("Anonymous",)),
        ("/proc/self/status", ("VmRSS", "VmHWM")),
    ):
        try:
            for line in Path(path).read_text().splitlines():
                name, _, value = line.partition(":")
                if name in names:
                    kib[name] = int(value.split()[0])
        except (OSError, ValueError):
            continue
    return {
        "private": 1024 * kib.get("Anonymous", 0),
        "rss": 1024 * kib.get("VmRSS", 0),
        "peak_rss": 1024 * kib.get("VmHWM", 0),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m trn.warm.parent SOCKET HOME", file=sys.stderr)
        return 2
    t0 = time.time()
    problems = preload()
    parent = Parent(Path(argv[0]), Path(argv[1]), problems)
    print(
        f"warm parent {os.getpid()} ready in {time.time() - t0:.1f} s on {argv[0]}"
        + (f" (will not fork: {'; '.join(problems)})" if problems else ""),
        flush=True,
    )
    request = parent.serve()
    from trn.runner.shutdown import exit_process
    from trn.warm.child import run

    # the parent leaves as its runners do, without a second of tearing down torch
    exit_process(0 if request is None else run(request))
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
