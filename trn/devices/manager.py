"""The device manager: a preview at plan time, a lease right before the runner starts.

``plan_allocation`` rejects requests this machine can never meet (exit 2, before any job dir
exists). ``lease_for_job`` (called by the supervisor) takes the machine-wide lease lock, takes a
fresh snapshot, allocates, writes the leases and returns the allocation; when the GPUs are not free it waits (the job
stays ``submitted`` and a ``devices_waiting`` event says why) or fails, per ``devices.wait``.
A CPU job waits for nothing: it counts the threads other trn jobs hold on its CPUs and leases
the count it takes (:mod:`trn.devices.threads`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from trn.devices.allocate import Allocation, Unavailable, allocate
from trn.devices.leases import Lease, LeaseStore
from trn.devices.probe import take_snapshot
from trn.devices.request import DeviceRequest
from trn.devices.snapshot import Snapshot
from trn.errors import TrnError, UsageError
from trn.handoff import Outcome

POLL_S = 2.0


class DevicesUnavailable(TrnError):
    """The job never got its devices: ``state`` is ``failed`` or ``cancelled`` (Ctrl-C)."""

    def __init__(self, message: str, state: str = "failed"):
        self.state = state
        super().__init__(message)

    def outcome(self) -> Outcome:
        """What ``outcome.json`` says, so the supervisor's finalize reports it like a runner's."""
        if self.state == "failed":
            return Outcome(self.state, error=str(self))
        return Outcome(self.state, reason=str(self))


def plan_allocation(node: dict[str, Any], home: Path, snap: Snapshot | None = None) -> Allocation:
    """What the job would run on; :class:`UsageError` if this machine can never meet it.

    With ``devices.wait=false`` a request that cannot be met *now* fails here too; otherwise the
    preview ignores load and leases, and the supervisor decides at lease time.
    """
    req = DeviceRequest.from_config(node)
    snap = snap or take_snapshot()
    if req.wait:
        return allocate(req, snap, strict=False, env=os.environ)
    return allocate(req, snap, LeaseStore(home).holders(), env=os.environ)


def acquire(
    req: DeviceRequest,
    home: Path,
    job_id: str | None,
    on_wait: Callable[[Unavailable, float], None] = lambda err, waited: None,
    snapshot: Callable[[], Snapshot] = take_snapshot,
    poll_s: float = POLL_S,
    stopped: Callable[[], bool] = lambda: False,
) -> tuple[Allocation, Lease]:
    """Allocate under the lease lock and lease the GPUs; wait while they are taken (until
    ``stopped()``: the caller's own stop signal)."""
    store, started, last = LeaseStore(home), time.monotonic(), ""
    while True:
        with store.locked():
            try:
                alloc = allocate(req, snapshot(), store.holders(), env=os.environ)
                return alloc, store.take(alloc.gpus, job_id)
            except Unavailable as err:
                pending = err
            except UsageError as err:  # the machine changed since the plan
                raise DevicesUnavailable(str(err)) from None
        waited = time.monotonic() - started
        if not req.wait:
            raise DevicesUnavailable(str(pending))
        if req.wait_timeout_s is not None and waited >= req.wait_timeout_s:
            raise DevicesUnavailable(
                f"gave up after {waited:.0f}s (devices.wait_timeout_s): {pending}"
            )
        if str(pending) != last:  # say it once per distinct reason, not every poll
            on_wait(pending, waited)
            last = str(pending)
        try:
            deadline = time.monotonic() + poll_s
            while time.monotonic() < deadline and not stopped():
                time.sleep(min(0.1, poll_s))
        except KeyboardInterrupt:
            stopped = lambda: True  # noqa: E731
        if stopped():
            raise DevicesUnavailable("interrupted while waiting for devices", "cancelled")


def lease_for_job(
    plan: Any, job_id: str, emit: Callable[..., Any], stopped: Callable[[], bool] = lambda: False
) -> tuple[Allocation, Lease | None]:
    """Lease the plan's GPUs for job ``job_id``: the allocation it got (the plan's preview, or
    the GPUs free now when they differ) and the lease to release when it ends. A CPU job's
    lease says how many threads it took (the CPU is shared, never waited for)."""
    req = DeviceRequest.from_config(plan.config["devices"])
    if plan.allocation.accelerator == "cpu":
        return cpu_threads(plan.allocation, req, plan.home, job_id)

    def on_wait(err: Unavailable, waited: float) -> None:
        emit(
            "devices_waiting",
            reason=str(err),
            waiting_for=err.reasons,
            waited_s=round(waited, 3),
            request=req.to_dict(),
        )

    alloc, lease = acquire(req, plan.home, job_id, on_wait, stopped=stopped)
    return alloc, lease


def cpu_threads(
    preview: Allocation, req: DeviceRequest, home: Path, job_id: str | None
) -> tuple[Allocation, Lease]:
    """``preview`` with the threads this job takes now (the cores of this process's affinity and
    quota less what other trn jobs hold on them, unless the user chose), and their lease."""
    from trn.devices import host
    from trn.devices.threads import CONFIG

    store, cpus = LeaseStore(home), host.affinity()
    usable, why = host.cpu_limit()
    with store.locked():
        if (preview.threads or {}).get("source") == CONFIG:
            alloc = preview  # a count the config set (devices.threads, Slurm's CPUs per task)
        else:
            snap = Snapshot(cpus=usable, cpu_detail=why)
            held = store.held_threads(cpus)
            alloc = allocate(req, snap, env=os.environ, held_threads=held)
        lease = store.take_threads(job_id, cpus, alloc.threads_total)
    return replace(preview, env={**preview.env, **alloc.env}, threads=alloc.threads), lease
