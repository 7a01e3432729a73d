"""Every warm parent of this user on this machine: list them, stop them, bound their number.

Each parent answers on a socket in the user's runtime dir (:mod:`trn.warm.where`), serving or
retiring, so a listing asks every socket there; none is looked for under a key computed from
this shell's environment (a job's planning environment may differ from it). No torch here:
``trn warm`` and ``trn doctor`` call this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from trn import proc
from trn.warm import protocol
from trn.warm.protocol import ParentInfo
from trn.warm.where import WarmUnavailable, all_sockets

EXIT_WAIT_S = 30.0  # an idle parent leaves its loop within a second of a stop


@dataclass(frozen=True)
class Stopped:
    pid: int
    runners: list[int]  # still running: the parent takes no more jobs and exits when they end
    exited: bool  # gone by the time :func:`stop` returned


def parents() -> list[ParentInfo]:
    """Every parent that answers, oldest first."""
    found: dict[int, ParentInfo] = {}
    for path in all_sockets():
        info = ping(path)
        if info is not None:
            found.setdefault(info.pid, info)  # renamed while we listed: the same parent twice
    return sorted(found.values(), key=lambda p: p.started)


def ping(path: Path) -> ParentInfo | None:
    """The parent on socket ``path``, or None when none answers there."""
    try:
        conn = protocol.connect(path)
    except OSError:  # a parent that died without removing its file
        return None
    try:
        with conn:
            reply = protocol.ask(conn, {"op": "ping"})
        return ParentInfo.from_dict(reply, path) if reply.get("ok") else None
    except (WarmUnavailable, KeyError, TypeError, ValueError):  # not a parent's answer
        return None


def stop(info: ParentInfo, wait_s: float = EXIT_WAIT_S) -> Stopped | None:
    """Ask ``info``'s parent to stop: at once when it runs no runner (and wait until it has
    exited), else once its runners end. None when it was gone already."""
    try:
        conn = protocol.connect(Path(info.socket))
    except OSError:
        return None
    try:
        with conn:
            reply = protocol.ask(conn, {"op": "stop"})
    except WarmUnavailable:
        return None
    if not reply.get("ok"):
        return None
    runners = [int(pid) for pid in reply.get("runners") or []]
    return Stopped(info.pid, runners, not runners and exits(info.pid, wait_s))


def make_room(limit: int) -> None:
    """Before one more parent starts: while ``limit`` parents serve, retire the least recently
    used idle one. When every one has a runner, refuse (the job starts cold): a parent is
    never stopped under a running job, and one more would break the bound."""
    serving = [p for p in parents() if p.state == "serving"]
    surplus = len(serving) - limit + 1
    if surplus <= 0:
        return
    idle = sorted((p for p in serving if not p.runners), key=lambda p: p.last_active)
    if len(idle) < surplus:
        raise WarmUnavailable(
            f"{len(serving)} warm parents serve other jobs already (TRN_WARM_MAX={limit}); "
            "raise TRN_WARM_MAX, or end one with trn warm stop"
        )
    for info in idle[:surplus]:
        stop(info)


def exits(pid: int, timeout: float) -> bool:
    """Has ``pid`` exited within ``timeout`` seconds? A zombie has: a parent whose starter
    is gone is reaped by whoever adopted it, maybe never."""
    deadline = time.monotonic() + timeout
    while proc.alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
