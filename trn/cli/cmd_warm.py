"""``trn warm start|stop|status``: the warm parent that forks this home's runners (trn.warm).

``trn run`` starts one on demand; these commands are for starting it ahead of a session of
runs, seeing what it holds, and stopping it (its running jobs go on).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from trn.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "warm",
        help="start, stop or show the warm parent that starts jobs fast",
        description="The warm parent of this $TRN_HOME has torch and Lightning imported and "
        "forks each local job's runner (TRN_WARM=0 or runner.warm=false: start cold).",
    )
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--all", action="store_true", help="stop: every warm parent of yours")
    p.add_argument("--json", action="store_true", help="status: print it as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.paths import readable_home
    from trn.warm import client
    from trn.warm.where import WarmUnavailable, all_sockets, place

    try:
        if args.action == "stop" and args.all:
            stopped = [pid for path in all_sockets() if (pid := client.stop(path))]
            print(f"stopped {len(stopped)} warm parent(s)")
            return 0
        where = place(readable_home())
        if args.action == "start":
            status = client.ping(where)
            if status and status.get("stale"):  # started before an upgrade: replace it
                client.stop(where.socket)
                _wait_gone(where.socket)
            client.connect(where, start=True).close()
            status = client.ping(where)
        elif args.action == "stop":
            pid = client.stop(where.socket)
            print(f"stopped warm parent {pid}" if pid else "no warm parent is running")
            return 0
        else:
            status = client.ping(where)
    except WarmUnavailable as err:
        raise UsageError(str(err)) from None
    if args.json:
        print(json.dumps({**(status or {}), "running": bool(status), "socket": str(where.socket)}))
    elif not status:
        print(f"no warm parent is running for {where.home} (trn run starts one)")
    else:
        print(_describe(status, where))
    return 0


def _wait_gone(path: Any, timeout: float = 10.0) -> None:
    """Until a stopped parent has taken its socket away (it does so as it leaves its loop)."""
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _describe(status: dict[str, Any], where: Any) -> str:
    from trn.text import fmt_bytes

    up = time.time() - status["started"]
    lines = [
        f"warm parent {status['pid']}, up {up:.0f} s, exits after {status['idle_s']:.0f} s idle",
        f"  runners   {len(status['runners'])} running"
        + (f" ({', '.join(map(str, status['runners']))})" if status["runners"] else ""),
        f"  memory    {fmt_bytes(status.get('rss', 0))} (peak {fmt_bytes(status.get('peak_rss', 0))})",
        f"  python    {status['python']}",
        f"  socket    {where.socket}",
        f"  log       {where.log}",
    ]
    if status.get("stale"):
        lines.append(f"  stale     {status['stale']} changed: the next job starts a fresh parent")
    for problem in status.get("problems") or []:
        lines.append(f"  problem   {problem}: jobs start cold")
    return "\n".join(lines)
