"""What a supervisor and a warm parent say to each other: one JSON object a line.

Requests: ``{"op": "ping"}``, ``{"op": "stop"}``, ``{"op": "spawn", ...}`` (:func:`check_spawn`
lists its fields). Every request gets one reply, ``{"ok": true, ...}`` or ``{"ok": false,
"error": "..."}``; a spawn's connection stays open and later carries ``{"exit": RC}``, the
runner's exit status as :attr:`subprocess.Popen.returncode` gives it (negative: a signal).
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir

MAX_LINE = 1 << 20  # a request's environment is the bulk; 1 MiB is far beyond any real one
OPS = ("ping", "stop", "spawn")


class BadRequest(ValueError):
    """A request that is not one the parent forks for."""


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
    ({name: [soft, hard]}), ``umask`` (int) and ``cpus`` (the CPU affinity, a list)."""
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
    return {
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
