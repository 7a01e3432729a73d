"""A forked runner: become the process ``python -m trn.runner JOB_DIR`` would have been.

The supervisor sent what a cold start would have given the runner: environment, working
directory, resource limits and umask. Here they are applied before any of the job's code runs,
then the runner's own ``main`` runs. ``sys.argv`` and ``__main__.__spec__`` are set as that command
sets them, because Lightning starts DDP's other ranks from them
(``python -m trn.runner.__main__ JOB_DIR``, a fresh process each).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import io
import os
import resource
import signal
import sys
from typing import Any

from trn.jobdir import JobDir


def run(request: dict[str, Any]) -> int:
    os.setsid()  # its own session and process group: the supervisor signals the group
    _redirect(str(JobDir(request["job_dir"]).runner_log))
    _limits(request["rlimits"])
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _set_path(request["cwd"], request["env"].get("PYTHONPATH", ""), request["base_path"])
    if request.get("cpus"):  # the CPUs a sweep's slot gave the job (a cold runner inherits them)
        os.sched_setaffinity(0, request["cpus"])
    _threads(request["env"])
    _blas_threads(request["env"])
    _reseed()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    spec = importlib.util.find_spec("trn.runner.__main__")
    assert spec is not None and spec.origin
    sys.modules["__main__"].__spec__ = spec
    sys.argv = [spec.origin, request["job_dir"]]

    from trn.runner.main import main

    return main([request["job_dir"]])


def _redirect(log_path: str) -> None:
    """stdin from /dev/null, stdout and stderr appended to ``runner.log``, each line written at
    once (a cold runner gets the same files and ``PYTHONUNBUFFERED=1``). The stream objects stay
    the same: handlers made at import (Lightning's logger) hold them."""
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True, write_through=True)


def _limits(rlimits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in rlimits.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            try:  # a hard limit above ours cannot be raised; the soft one still applies
                resource.setrlimit(which, (soft, resource.getrlimit(which)[1]))
            except (ValueError, OSError):
                pass


def _reseed() -> None:
    """Fresh generators, as a new process has: every child of one parent would otherwise share
    NumPy's and torch's state (Python's ``random`` reseeds itself after a fork)."""
    import numpy as np
    import torch

    np.random.seed(int.from_bytes(os.urandom(4), "little"))
    torch.seed()


def _set_path(cwd: str, pythonpath: str, base: list[str]) -> None:
    """``sys.path`` as ``python -m`` in ``cwd`` with this ``PYTHONPATH`` starts it; ``base``: the
    parent's, less its own working directory and ``PYTHONPATH``."""
    front = [cwd, *filter(None, pythonpath.split(os.pathsep))]
    sys.path[:] = front + [p for p in base if p not in front]
    importlib.invalidate_caches()  # directory listings cached in the parent may be stale


def _threads(env: dict[str, str]) -> None:
    """The thread count the environment asks for: OpenMP read it when the parent loaded torch."""
    value = env.get("OMP_NUM_THREADS") or env.get("MKL_NUM_THREADS")
    if not value:
        return
    try:
        n = int(value)
    except ValueError:
        return
    if n > 0:
        import torch

        torch.set_num_threads(n)


BLAS_ENV = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # OpenBLAS's order
# the OpenBLAS builds of NumPy's and SciPy's wheels (and of older ones), by their setter's name
BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _blas_threads(env: dict[str, str]) -> None:
    """NumPy's (and SciPy's) BLAS as a fresh import would size it. The parent imported it held
    to one thread (a pool started there would not survive the fork); the job gets what its
    environment asks for, at most a thread per CPU it may run on, as OpenBLAS takes."""
    cpus = len(os.sched_getaffinity(0))
    asked = next((int(v) for k in BLAS_ENV if (v := env.get(k, "")).isdigit() and int(v) > 0), 0)
    n = min(asked or cpus, cpus)
    for path in _loaded_libraries("openblas"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, name) for name in BLAS_SETTERS if hasattr(lib, name)), None)
        if setter is not None:
            setter(ctypes.c_int(n))


def _loaded_libraries(part: str) -> list[str]:
    """The shared libraries this process has mapped whose file name contains ``part``."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if part in os.path.basename(p) and os.path.isabs(p))
