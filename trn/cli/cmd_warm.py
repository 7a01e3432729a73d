"""``trn warm start|stop|status``: the warm parents that fork local jobs' runners (trn.warm).

``trn run`` starts one on demand, per ``$TRN_HOME`` and interpreter. ``status`` lists every
parent of yours on this machine, whichever home or project it serves; ``stop`` ends this home's
(``--all``: every one), never under a running job: such a parent takes no more jobs and exits
when they end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from trn.errors import TrnError, UsageError

EXAMPLES = """examples:
  trn warm status            every warm parent of yours: home, projects, age, idle, memory
  trn warm start             start this home's parent ahead of a session of runs
  trn warm stop              end the parents of this home ($TRN_HOME, default ./outputs)
  trn warm stop --all        end every parent of yours
  trn warm status --json | jq '.[] | {pid, home, private}'

TRN_WARM_IDLE_S (default 900): a parent without jobs exits after so many seconds.
TRN_WARM_MAX (default 2): parents serving at once; one more retires the least recently used.
TRN_WARM=0 (or runner.warm=false): jobs start cold, no parent.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "warm",
        help="show, start or stop the warm parents that start jobs fast",
        description="A warm parent has torch and Lightning imported and forks the runners of "
        "one $TRN_HOME's local jobs, so they skip seconds of imports.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--all", action="store_true", help="stop: every warm parent of yours")
    p.add_argument("--json", action="store_true", help="status, start: print it as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.paths import readable_home
    from trn.warm.where import WarmUnavailable

    if args.all and args.action != "stop":
        raise UsageError(f"--all goes with stop (trn warm stop --all), not with {args.action}")
    home = readable_home().resolve()
    try:
        if args.action == "start":
            return _start(home, args.json)
        if args.action == "stop":
            return _stop(home, args.all)
        return _status(home, args.json)
    except WarmUnavailable as err:
        raise UsageError(str(err)) from None


def _start(home: Path, as_json: bool) -> int:
    from trn.warm import client, parents
    from trn.warm.where import place

    where = place(home)
    info = parents.ping(where.socket)
    if info and info.stale:  # started before an upgrade: replace it
        parents.stop(info)
    client.connect(where, start=True).close()
    info = parents.ping(where.socket)
    if info is None:
        raise UsageError(f"the warm parent did not stay up; see {where.log}")
    _show([info], home, as_json)
    return 0


def _stop(home: Path, every: bool) -> int:
    from trn.warm import parents

    targets = [p for p in parents.parents() if every or p.home == str(home)]
    stopped = [s for s in map(parents.stop, targets) if s is not None]
    if not stopped:
        where = "" if every else f" for {home}"
        print(f"no warm parent is running{where}: nothing to stop")
    for s in stopped:
        if s.runners:
            print(
                f"warm parent {s.pid} takes no more jobs and exits when its {len(s.runners)} "
                f"running job(s) end (runner pid {', '.join(map(str, s.runners))})"
            )
        elif s.exited:
            print(f"stopped warm parent {s.pid}")
        else:
            print(f"warm parent {s.pid} was told to stop and has not exited yet")
    return 0


def _status(home: Path, as_json: bool) -> int:
    from trn.warm import parents

    found = parents.parents()
    if not found and not as_json:
        print(f"no warm parent is running (trn run starts one for {home})")
        return 0
    _show(found, home, as_json)
    if not as_json and not any(p.home == str(home) for p in found):
        print(f"none serves this home, {home} (trn run starts one)")
    return 0


def _show(found: list[Any], home: Path, as_json: bool) -> None:
    project = _project_root()
    marks = [(p.home == str(home), project in p.projects) for p in found]
    if as_json:
        rows = [
            {**p.to_dict(), "this_home": here, "this_project": ours}
            for p, (here, ours) in zip(found, marks, strict=True)
        ]
        print(json.dumps(rows, indent=1))
        return
    from trn.text import fmt_bytes

    now = time.time()
    blocks = [_describe(p, here, ours, now) for p, (here, ours) in zip(found, marks, strict=True)]
    print("\n".join(blocks))
    if len(found) > 1:
        total = fmt_bytes(sum(p.private or 0 for p in found))
        print(f"{len(found)} warm parents of yours hold {total} of their own memory")


def _project_root() -> str | None:
    """The project of the working dir (what `trn run` here would use), None if none."""
    from trn.config import project

    try:
        root = project.find().root
    except TrnError:  # a broken [tool.trn] is `trn run`'s to report, not status's
        return None
    return str(root) if root else None


def _describe(info: Any, here: bool, ours: bool, now: float) -> str:
    from trn.text import fmt_bytes, fmt_duration
    from trn.warm.where import log_path

    marks = [m for m, on in (("this home", here), ("this project", ours)) if on]
    state = "serving" if info.state == "serving" else f"retiring: {info.why}"
    projects = [p if p else "trn's own configs" for p in info.projects] or ["no job yet"]
    runners = ", ".join(map(str, info.runners))
    older = "not said (a parent of an older trn)"
    own = "" if info.private is None else f"{fmt_bytes(info.private)} its own, "
    lines = [
        f"{'*' if here else ' '} warm parent {info.pid}"
        + (f" ({', '.join(marks)})" if marks else "")
        + f", {state}",
        f"    home      {info.home or older}",
        f"    projects  {', '.join(projects)}",
        f"    python    {info.python}",
        f"    up        {fmt_duration(now - info.started)}, idle {fmt_duration(info.idle_for(now))}"
        f" (exits after {fmt_duration(info.idle_s)} idle)",
        f"    runners   {f'{len(info.runners)} running ({runners})' if info.runners else 'none'}",
        f"    memory    {own}resident {fmt_bytes(info.rss)}, peak {fmt_bytes(info.peak_rss)}",
        f"    socket    {info.socket}",
    ]
    if info.home:
        lines.append(f"    log       {log_path(Path(info.home), info.socket)}")
    if info.stale:
        lines.append(f"    stale     {info.stale} changed: the next job starts a fresh parent")
    for problem in info.problems:
        lines.append(f"    problem   {problem}: jobs start cold")
    return "\n".join(lines)
