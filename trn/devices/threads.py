"""How many threads a job's runner computes with, and why.

The user's explicit choice wins: ``devices.threads`` in the config, else ``OMP_NUM_THREADS`` or
``MKL_NUM_THREADS`` in the environment trn was started with (a shared login node, a
cgroup-limited container). Otherwise trn counts the cores this job may use: the process's CPU
affinity and cgroup quota (:func:`trn.devices.host.cpu_limit`), less the threads other trn jobs of
this home hold on those cores (their CPU leases), split between the job's processes. A single job
and a one-point sweep on the same machine get the same count.

trn marks the variables it sets itself with ``TRN_THREADS``, so a process they reach (a sweep's
job in its slot) does not take them for the user's. It also bounds how long OpenMP's idle
threads spin before they sleep (``GOMP_SPINCOUNT=10000``, some microseconds) unless the user set
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``: the default spin (300,000 rounds) makes a step cost
several times more when other work shares the cores, and never spinning (``PASSIVE``) makes a
small model's step 3x slower on an idle machine, where each operator wakes sleeping threads
(docs/performance.md#threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
SET_BY_TRN = "TRN_THREADS"
WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN, SPIN_COUNT = "GOMP_SPINCOUNT", "10000"  # GNU OpenMP's (torch's on Linux): rounds, then sleep
# Where a count came from, as the record and `trn doctor` name it.
CONFIG, ENVIRONMENT, CORES, CODE = "devices.threads", "environment", "cores", "code"


@dataclass(frozen=True)
class Threads:
    """A job's threads per process: ``count``, its ``source`` (one of :data:`CONFIG`,
    :data:`ENVIRONMENT`, :data:`CORES`, :data:`CODE`) and ``why``, in words."""

    count: int
    source: str
    why: str
    spin: str | None = SPIN_COUNT  # GOMP_SPINCOUNT; None: the user's own waiting stands

    def env(self) -> dict[str, str]:
        """The variables that give the runner (and its DDP ranks) this count."""
        value = str(self.count)
        env = {**dict.fromkeys(THREAD_VARS, value), SET_BY_TRN: value}
        if self.spin:
            env[SPIN] = self.spin
        return env

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "source": self.source, "why": self.why}


def explicit(env: Mapping[str, str]) -> tuple[int, str] | None:
    """The thread count the user set in ``env`` and the variable that says so; None when the
    variables are unset, not a positive integer, or trn's own (:data:`SET_BY_TRN`)."""
    for var in THREAD_VARS:
        text = (env.get(var) or "").strip()
        if not text:
            continue
        if env.get(SET_BY_TRN) == text:
            return None  # trn set it for a slot or a rank: not the user's choice
        try:
            count = int(text)
        except ValueError:
            continue  # OpenMP ignores what it cannot parse; so does trn
        if count >= 1:
            return count, f"{var}={text} in the environment"
    return None


def choose(
    requested: int | None,
    env: Mapping[str, str],
    usable: int,
    usable_why: str,
    held: int = 0,
    processes: int = 1,
) -> Threads:
    """The count per process: ``requested`` (``devices.threads``), else the user's ``env``, else
    ``usable`` cores less ``held`` by other trn jobs, split between ``processes``."""
    policy = None if env.get(WAIT_POLICY) or env.get(SPIN) else SPIN_COUNT
    if requested:
        return Threads(int(requested), CONFIG, f"devices.threads={requested}", policy)
    found = explicit(env)
    if found:
        return Threads(found[0], ENVIRONMENT, found[1], policy)
    free = max(1, usable - held)
    count = max(1, free // max(1, processes))
    why = f"{usable} usable CPU{'s' * (usable != 1)} ({usable_why})"
    if held:
        why += f", {held} held by other trn jobs"
    if processes > 1:
        why += f", split between {processes} processes"
    return Threads(count, CORES, why, policy)


def observed(planned: Mapping[str, Any] | None, actual: int | None) -> dict[str, Any] | None:
    """The record's threads once the runner said what it computes with: ``planned`` unless the
    project's own code changed the count (``torch.set_num_threads``), which then wins."""
    if not actual or not planned or int(planned["count"]) == actual:
        return None if planned is None else dict(planned)
    why = (
        f"torch.set_num_threads({actual}) in the project's code (trn had chosen {planned['count']})"
    )
    return Threads(actual, CODE, why).to_dict()
