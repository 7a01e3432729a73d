"""``python -m trn.warm.parent SOCKET``: the warm parent (see :mod:`trn.warm`).

One thread, one loop: accept connections on ``SOCKET``, answer pings, fork a runner per spawn
request, reap runners (``SIGCHLD`` wakes the loop) and tell each one's supervisor its exit
status. :meth:`Parent.serve` returns only in a forked child, with its request, after closing
everything of the parent's; :func:`main` then runs the job there, on a clean stack, and the
child exits as a cold runner does (:func:`trn.runner.shutdown.exit_process`).
"""

from __future__ import annotations

import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from trn.warm import protocol
from trn.warm.where import idle_s

# What every job imports before its first step; the user's code is never among them.
PRELOAD = (
    "numpy",
    "torch",
    "lightning.pytorch",
    "yaml",
    "hydra.utils",  # instantiate: the data, model and optimizer
    "jsonschema",  # the checkpoint meta and event checks
    "logging.config",
    "trn.runner.main",
    "trn.runner.build",
    "trn.runner.callbacks",
    "trn.runner.checkpoint",
    "trn.runner.loggers",
    "trn.runner.metrics",
    "trn.runner.tasks",
    "trn.runner.usermodule",
    "trn.checkpoints.io",
    "trn.checkpoints.meta",
    "trn.events.writer",
    "trn.events.sinks",
    "trn.models",
    "trn.data.datamodule",
)


def preload() -> list[str]:
    """Import :data:`PRELOAD`; the problems that make forking unsafe (none: fork away)."""
    gc.disable()  # no collection while importing: fewer freed holes in pages forks share
    for name in PRELOAD:
        importlib.import_module(name)
    gc.enable()
    import torch

    problems = []
    if torch.cuda.is_initialized():
        problems.append("CUDA was initialised while importing")
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:
        problems.append(f"{threads} threads run after importing (a fork keeps only one)")
    return problems


def module_files() -> dict[str, int]:
    """``{path: mtime_ns}`` of every imported module's file, and of the interpreter."""
    paths = {os.path.realpath(sys.executable)}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            paths.add(path)
    stamps = {}
    for path in paths:
        try:
            stamps[path] = os.stat(path).st_mtime_ns
        except OSError:
            stamps[path] = -1
    return stamps


class Parent:
    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        self.started, self.last_active = time.time(), time.time()
        self.idle_s = idle_s()
        self.stamps = module_files()
        # sys.path as every job starts it: the job's cwd and PYTHONPATH go in front
        ours = set(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
        self.base_path = [p for p in sys.path[1:] if p not in ours]
        self.children: dict[int, socket.socket | None] = {}  # runner pid -> its supervisor
        self.buffers: dict[socket.socket, bytes] = {}
        self.retired = False  # stale: no new forks; exit once the last runner ended
        self.stopping = False
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
        self.stopping = True

    # -- the loop -------------------------------------------------------------------------------
    def serve(self) -> dict[str, Any] | None:
        """Serve until stopped or idle; in a forked child, return its spawn request."""
        while not self.stopping:
            if self.retired and not self.children:
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
        self.last_active = time.time()
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
        elif op == "stop":
            self._reply(conn, {"ok": True, "pid": os.getpid()}, close=True)
            self.stopping = True
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
            return "stale: it is exiting"
        changed = self.changed()
        if changed:
            self.retire()
            return f"stale: {changed} changed since it started"
        return None

    def changed(self) -> str | None:
        now = module_files()
        for path, stamp in self.stamps.items():
            if now.get(path) != stamp:
                return path
        return None

    def retire(self) -> None:
        """Stop taking jobs: a new parent may take the socket's name now."""
        self.retired = True
        self.selector.unregister(self.listener)
        self.listener.close()
        self._unlink()

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
        if not self.retired:
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
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass

    def status(self) -> dict[str, Any]:
        memory = _memory()
        return {
            "ok": True,
            "pid": os.getpid(),
            "started": self.started,
            "python": sys.executable,
            "runners": sorted(self.children),
            "idle_s": self.idle_s,
            "problems": self.problems,
            "stale": self.changed(),
            **memory,
        }


def _memory() -> dict[str, int]:
    """Resident and peak resident memory in bytes (``VmRSS``, ``VmHWM``)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out["rss" if name == "VmRSS" else "peak_rss"] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m trn.warm.parent SOCKET", file=sys.stderr)
        return 2
    t0 = time.time()
    problems = preload()
    parent = Parent(Path(argv[0]), problems)
    print(
        f"warm parent {os.getpid()} ready in {time.time() - t0:.1f} s on {argv[0]}"
        + (f" (will not fork: {'; '.join(problems)})" if problems else ""),
        flush=True,
    )
    request = parent.serve()
    if request is None:
        return 0
    from trn.runner.shutdown import exit_process
    from trn.warm.child import run

    exit_process(run(request))
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
