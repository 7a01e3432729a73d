"""What a supervisor and a warm parent say to each other: one JSON object a line.

Requests: ``{"op": "ping"}`` (the reply carries a :class:`ParentInfo`), ``{"op": "stop"}``
(exit now, or once the running runners end: the reply says which), ``{"op": "spawn", ...}``
(:func:`check_spawn` lists its fields). Every request gets one reply, ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``; a spawn's connection stays open and later carries
``{"exit": RC}``, the runner's exit status as :attr:`subprocess.Popen.returncode` gives it
(negative: a signal).
"""

from __future__ import annotations

import json
import os
import socket
import struct
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir
from trn.warm.where import WarmUnavailable

MAX_LINE = 1 << 20  # a request's environment is the bulk; 1 MiB is far beyond any real one
REPLY_TIMEOUT_S = 30.0  # a parent answers at once; one that does not is wedged
OPS = ("ping", "stop", "spawn")


class BadRequest(ValueError):
    """A request that is not one the parent forks for."""


@dataclass(frozen=True)
class ParentInfo:
    """A warm parent as it describes itself (the reply to a ping; ``trn warm status --json``)."""

    pid: int
    home: str | None  # the $TRN_HOME whose jobs it forks (None: a parent of an older trn)
    python: str  # its interpreter (sys.executable)
    socket: str  # where it answers now
    started: float  # time.time() when it was ready
    last_active: float  # when it last forked a runner or saw one end
    idle_s: float  # it exits after this many seconds without a runner
    runners: list[int]  # pids of its runners still running
    projects: list[str | None]  # the project roots of the jobs it forked, latest first; None:
    #                             a job of trn's own configs
    private: int | None  # bytes of its own memory (smaps_rollup Anonymous: not the libraries'
    #                      files); None: not said (an older trn)
    rss: int  # resident bytes, its pages shared with its runners included
    peak_rss: int
    state: str  # "serving"; "retiring": takes no jobs, exits when its runners end
    why: str | None  # why it is retiring
    stale: str | None  # a file it imported changed since it started
    problems: list[str]  # why it will not fork at all

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], socket: Path) -> ParentInfo:
        """From a ping's reply on ``socket``. A parent started by an older trn (before an
        upgrade) says less: what it leaves out is unknown, and it serves until stopped.
        KeyError: not a parent's reply at all."""
        unsaid = {
            "home": None,
            "socket": str(socket),
            "last_active": data["started"],
            "projects": [],
            "private": None,
            "rss": 0,
            "peak_rss": 0,
            "state": "serving",
            "why": None,
            "stale": None,
            "problems": [],
        }
        given = {**unsaid, **data}
        return cls(**{f.name: given[f.name] for f in fields(cls)})

    def idle_for(self, now: float) -> float:
        """Seconds without a runner (0 while one runs)."""
        return 0.0 if self.runners else max(0.0, now - self.last_active)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as err:
        raise BadRequest(f"not JSON: {err}") from None
    if not isinstance(message, dict) or message.get("op") not in OPS:
        raise BadRequest(f"not a request: 'op' must be one of {', '.join(OPS)}")
    return message


def check_spawn(message: dict[str, Any]) -> dict[str, Any]:
    """The spawn request's fields, checked: ``job_dir`` (a job's directory, with its config and
    launch files), ``cwd`` (a directory), ``env`` (str -> str), and optionally ``rlimits``
    ({name: [soft, hard]}), ``umask`` (int), ``cpus`` (the CPU affinity, a list) and
    ``project`` (the job's project root, shown by ``trn warm status``)."""
    job_dir, cwd, env = message.get("job_dir"), message.get("cwd"), message.get("env")
    if not isinstance(job_dir, str) or not os.path.isabs(job_dir):
        raise BadRequest("job_dir must be an absolute path")
    files = JobDir(Path(job_dir))
    if not (files.config.is_file() and files.launch.is_file() and files.record.is_file()):
        raise BadRequest(f"{job_dir} is not a job's directory (no config, launch or record)")
    if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
        raise BadRequest("cwd must be an existing absolute directory")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in k + v
        for k, v in env.items()
    ):
        raise BadRequest("env must map names to strings")
    rlimits = message.get("rlimits") or {}
    if not isinstance(rlimits, dict) or not all(
        isinstance(k, str) and k.startswith("RLIMIT_") and _limit_pair(v)
        for k, v in rlimits.items()
    ):
        raise BadRequest("rlimits must map RLIMIT_* names to [soft, hard]")
    cpus = message.get("cpus") or []
    if not isinstance(cpus, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cpus
    ):
        raise BadRequest("cpus must be a list of CPU numbers")
    umask = message.get("umask", 0o022)
    if not isinstance(umask, int) or not 0 <= umask <= 0o777:
        raise BadRequest("umask must be an integer 0..0o777")
    project = message.get("project")
    if project is not None and (not isinstance(project, str) or not os.path.isabs(project)):
        raise BadRequest("project must be an absolute path or null")
    return {
        "project": project,
        "job_dir": job_dir,
        "cwd": cwd,
        "env": env,
        "rlimits": rlimits,
        "umask": umask,
        "cpus": cpus,
    }


def _limit_pair(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end (``SO_PEERCRED``: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


# -- the asking end ------------------------------------------------------------------------------
def connect(path: Path) -> socket.socket:
    """A connection to the parent listening on ``path`` (OSError: none listens there)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        raise
    return conn


def ask(conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    """Send one request and read its one-line reply. What came after the line (a spawn's exit,
    for a runner that ended at once) is kept under ``_rest``."""
    conn.settimeout(REPLY_TIMEOUT_S)
    try:
        conn.sendall(encode(message))
        buffer = b""
        while b"\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                raise WarmUnavailable("the warm parent closed the connection without a reply")
            buffer += data
    except TimeoutError:
        raise WarmUnavailable(
            f"the warm parent did not answer in {REPLY_TIMEOUT_S:.0f} s"
        ) from None
    except OSError as err:
        raise WarmUnavailable(f"the warm parent is unreachable: {err}") from None
    conn.settimeout(None)
    line, _, rest = buffer.partition(b"\n")
    reply: dict[str, Any] = json.loads(line)
    if rest:
        reply["_rest"] = rest
    return reply
