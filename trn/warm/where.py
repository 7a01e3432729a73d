"""Which warm parent a process uses, and where its socket, lock and log are.

The socket lives in a private runtime directory (``$XDG_RUNTIME_DIR`` or the temp dir, then
``trn-warm-UID``, mode 0700): Unix socket paths are limited to about 100 bytes, too few for
many ``$TRN_HOME`` paths. Its name is a hash of what makes a parent usable by this process:
the home, the interpreter and its environment (``sys.prefix``), trn's version and the directory
trn is imported from.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trn
from trn.paths import trn_home

IDLE_S = 900.0  # a parent with no job and no request for this long exits (TRN_WARM_IDLE_S)
START_TIMEOUT_S = 120.0  # how long a client waits for a new parent's imports


class WarmUnavailable(Exception):
    """No warm parent can fork this job; the caller starts it cold and says why."""


@dataclass(frozen=True)
class Place:
    home: Path
    key: str
    socket: Path
    lock: Path
    log: Path  # the parent's own stdout and stderr, in the home where users look


def runtime_dir() -> Path:
    """The owner-only directory for sockets and locks, made if missing, refused if anyone else
    could enter it."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    path = base / f"trn-warm-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as err:
        raise WarmUnavailable(f"cannot make {path}: {err.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise WarmUnavailable(f"{path} is not a directory only you can open (0700); remove it")
    return path


def key(home: Path) -> str:
    # python, python3 and python3.11 of one environment share a parent; two venvs do not
    interpreter = (os.path.realpath(sys.executable), sys.prefix)
    parts = (str(home.resolve()), *interpreter, trn.__version__, str(Path(trn.__file__).parent))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def place(home: Path | None = None) -> Place:
    home = (home or trn_home()).resolve()
    k = key(home)
    run = runtime_dir()
    return Place(home, k, run / f"{k}.sock", run / f"{k}.lock", home / "warm" / f"{k}.log")


def all_sockets() -> list[Path]:
    """Every warm parent's socket of this user (``trn warm stop --all``)."""
    return sorted(runtime_dir().glob("*.sock"))


def idle_s() -> float:
    try:
        return float(os.environ.get("TRN_WARM_IDLE_S") or IDLE_S)
    except ValueError:
        return IDLE_S


def wanted(config: dict[str, Any]) -> bool:
    """Does this job's config (and ``TRN_WARM``) ask for a warm start?"""
    if os.environ.get("TRN_WARM", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return bool((config.get("runner") or {}).get("warm", True))
