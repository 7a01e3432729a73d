"""Starting a job's runner: forked warm (:mod:`trn.warm`) when it can be, else a fresh Python.

Both kinds look the same to the supervisor: a ``pid`` that leads its own process group (the
signals go there) and ``wait(timeout)``, the exit status or None while it runs. A warm start
that cannot happen never fails the job: it starts cold with a warning that says why.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from trn.jobdir import JobDir
from trn.lifecycle.plan import RUNNER_MODULE, Plan

# what a cold runner inherits from its supervisor and a forked one is sent
RLIMITS = (
    "RLIMIT_FSIZE",
    "RLIMIT_NOFILE",
    "RLIMIT_CORE",
    "RLIMIT_AS",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
)


class Cold:
    """``python -m trn.runner JOB_DIR`` as the supervisor's child."""

    note: str | None = None

    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc, self.pid = proc, proc.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class Started:
    process: Any  # Cold or trn.warm.client.WarmRunner
    start: str  # "warm" or "cold"
    at: float  # time.time() of the request: the runner's job_started tells how long it took
    warning: str | None = None  # why a warm start fell back to cold


def start_runner(plan: Plan, job_dir: JobDir, env: dict[str, str]) -> Started:
    """The runner, started in the project root when the job has a project (a relative path in
    its config means the same file from any directory, a resume's and a sweep's alike), else
    where this process runs."""
    at = time.time()
    warning = None
    cwd = _cwd(plan)
    if warm_allowed(plan):
        from trn.warm.client import spawn
        from trn.warm.where import WarmUnavailable, place

        try:
            if cwd is None:
                raise WarmUnavailable("the working directory is gone")
            request = {
                "job_dir": str(job_dir.path),
                "cwd": cwd,
                "env": {**env, "TRN_START": "warm", "TRN_STARTED_AT": repr(at)},
                "rlimits": _rlimits(),
                "umask": _umask(),
                "cpus": sorted(os.sched_getaffinity(0)),
                "project": plan.project.get("project_root"),  # for `trn warm status`
            }
            return Started(spawn(place(plan.home, env), request), "warm", at)
        except WarmUnavailable as err:
            warning = f"warm start unavailable, started cold: {err}"
        except Exception as err:  # noqa: BLE001 - a warm start never fails a job: start cold
            warning = f"warm start failed, started cold: {type(err).__name__}: {err}"
    env = {**env, "TRN_START": "cold", "TRN_STARTED_AT": repr(at)}
    with open(job_dir.runner_log, "ab") as log:
        proc = subprocess.Popen(
            plan.command(job_dir.path),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals reach it via the supervisor
        )
    return Started(Cold(proc), "cold", at, warning)


def warm_allowed(plan: Plan) -> bool:
    """Local jobs of trn's own runner whose config and ``TRN_WARM`` allow it. A Slurm task
    starts cold: its node may have no warm parent, and its allocation is Slurm's."""
    from trn.warm.where import wanted

    return plan.backend == "local" and plan.runner == RUNNER_MODULE and wanted(plan.config)


def _cwd(plan: Plan) -> str | None:
    root = plan.project.get("project_root")
    if root and os.path.isdir(root):
        return str(root)
    try:
        return os.getcwd()
    except OSError:  # deleted under us: a cold runner starts there all the same
        return None


def _rlimits() -> dict[str, list[int]]:
    return {name: list(resource.getrlimit(getattr(resource, name))) for name in RLIMITS}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
