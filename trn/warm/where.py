"""Which warm parent a process uses, and where its socket, lock and log are.

The socket lives in a private runtime directory (``$XDG_RUNTIME_DIR`` or the temp dir, then
``trn-warm-UID``, mode 0700): Unix socket paths are limited to about 100 bytes, too few for
many ``$TRN_HOME`` paths. Its name is a hash of what makes a parent usable by this process:
the home, the interpreter and its environment (``sys.prefix``), trn's version, the directory
trn is imported from, and the variables read at import (:data:`IMPORT_TIME_ENV`): a job run with
``TORCH_LOGS`` or ``PYTHONHASHSEED`` set gets a parent that started with them.

A parent that stops taking jobs while its runners still run (stale, stopped, its home deleted)
renames its socket to :func:`retiring_socket`: the name is free for a new parent at once, and
``trn warm status`` and ``stop`` still reach the old one. Every parent of this user answers on a
socket in :func:`runtime_dir` (:func:`all_sockets`); ``TRN_WARM_MAX`` bounds how many serve.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trn
from trn.devices.threads import SPIN, SPIN_COUNT, WAIT_POLICY
from trn.jobdir import HomeDir
from trn.paths import trn_home

IDLE_S = 900.0  # a parent with no job and no request for this long exits (TRN_WARM_IDLE_S)
# Parents serving at once (TRN_WARM_MAX): each holds about 320 MiB of its own memory
# (docs/performance.md); two cover the homes a user switches between, and a third home's first
# job retires the least recently used idle one.
MAX_PARENTS = 2
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


# Read when Python starts or torch, NumPy and Lightning are imported, so in the parent, not in
# each job: a job that sets one differently needs a parent started with its value.
IMPORT_TIME_ENV = (
    "PYTHON",
    "TORCH",
    "PYTORCH",
    "KMP_",
    "GOMP_",
    "OMP_",
    "MKL_",
    "PL_",
    "LIGHTNING_",
)
IMPORT_TIME_EXTRA = ("LD_PRELOAD", "LD_LIBRARY_PATH")
# ... except these, which the child applies itself or which are read later than the imports
PER_JOB_ENV = ("PYTHONPATH", "PYTHONUNBUFFERED", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# ... and these, which importing Lightning (and seeding) sets in whatever process does it: in
# `trn run` while it plans, so in every job's environment, and in the parent by its own imports.
# Each is read when used, not at import; keyed on, they would make the planning process's jobs
# ask for another parent than the one `trn warm` computes from the shell (tests check the list
# against what the imports set).
SET_BY_IMPORTS = (
    "PYTORCH_NVML_BASED_CUDA_CHECK",
    "TORCHINDUCTOR_CACHE_DIR",
    "PL_GLOBAL_SEED",
    "PL_SEED_WORKERS",
)


def import_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` a warm parent fixes for every runner it forks."""
    fixed = {
        k: v
        for k, v in env.items()
        if (k.startswith(IMPORT_TIME_ENV) or k in IMPORT_TIME_EXTRA)
        and k not in PER_JOB_ENV
        and k not in SET_BY_IMPORTS
    }
    # OpenMP reads how its threads wait as torch loads it, and every job runs with a setting:
    # the user's, else trn's spin bound (trn.devices.threads). A shell without one (`trn warm
    # start`) must still name the parent its jobs will ask for, and start it with theirs.
    if WAIT_POLICY not in fixed and SPIN not in fixed:
        fixed[SPIN] = SPIN_COUNT
    return dict(sorted(fixed.items()))


def key(home: Path, env: Mapping[str, str]) -> str:
    # python, python3 and python3.11 of one environment share a parent; two venvs do not
    interpreter = (os.path.realpath(sys.executable), sys.prefix)
    parts = [str(home.resolve()), *interpreter, trn.__version__, str(Path(trn.__file__).parent)]
    parts += [f"{k}={v}" for k, v in import_env(env).items()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def place(home: Path | None = None, env: Mapping[str, str] | None = None) -> Place:
    """The parent for jobs of ``home`` whose environment is ``env`` (default: this process's)."""
    home = (home or trn_home()).resolve()
    k = key(home, os.environ if env is None else env)
    run = runtime_dir()
    return Place(home, k, run / f"{k}.sock", run / f"{k}.lock", log_path(home, k))


def log_path(home: Path, key_or_socket: str) -> Path:
    """The log of the parent of ``home`` with this key (or socket: its name starts with it)."""
    return HomeDir(home).warm / f"{Path(key_or_socket).name.split('.')[0]}.log"


def all_sockets() -> list[Path]:
    """The sockets of every warm parent of this user, serving or retiring (a dead parent's
    file may be among them: nothing answers there)."""
    return sorted(runtime_dir().glob("*.sock"))


def retiring_socket(path: Path, pid: int) -> Path:
    """Where the parent of ``path`` answers once it takes no more jobs."""
    return path.with_name(f"{path.name.split('.')[0]}.{pid}.sock")


def idle_s() -> float:
    """Seconds a parent without jobs waits for one before it exits (``TRN_WARM_IDLE_S``)."""
    return _setting("TRN_WARM_IDLE_S", IDLE_S, float)


def max_parents() -> int:
    """How many parents of this user may serve at once (``TRN_WARM_MAX``)."""
    return int(_setting("TRN_WARM_MAX", MAX_PARENTS, int))


def _setting(name: str, default: float, kind: type) -> float:
    given = os.environ.get(name, "").strip()
    if not given:
        return default
    try:
        value = kind(given)
    except ValueError:
        value = 0
    if value <= 0:
        raise WarmUnavailable(
            f"{name}={given} is not a positive number; set it to one (default {default:g}), "
            "or TRN_WARM=0 to start every job cold"
        )
    return float(value)


def wanted(config: dict[str, Any]) -> bool:
    """Does this job's config (and ``TRN_WARM``) ask for a warm start?"""
    if os.environ.get("TRN_WARM", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return bool((config.get("runner") or {}).get("warm", True))
