"""``trn doctor [OVERRIDES]``: is this machine ready to run this devices request now?"""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output
from trn.config import project

EXAMPLES = """examples:
  trn doctor                               torch, driver, GPUs, CPUs, disk; can `trn run` start?
  trn doctor devices=gpu devices.count=2   can a 2-GPU job start now?
  trn doctor --devices cuda:0,cuda:1       the same, in --devices syntax
  trn doctor --json | jq .ok               for scripts: exit 0 ready, 1 not (with .reason)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine: torch build, driver, GPUs, CPUs, disk; can the job start?",
        description="Report the torch build, NVIDIA driver and NVML, every GPU with its users, "
        "usable CPUs, free disk under $TRN_HOME and distributed backends, then whether the "
        "requested devices can be allocated now. Exit 0 when they can, 1 (with the reason) "
        "when they cannot.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra override, e.g. devices=gpu"
    )
    p.add_argument("--devices", metavar="SPEC", help="cpu, auto, gpu, cuda:0,cuda:1 or GPU UUIDs")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    project.add_arguments(p)  # the config dir its overrides compose with
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.config.validate import load
    from trn.devices import parse_devices_flag
    from trn.devices.doctor import check
    from trn.devices.doctor_render import render
    from trn.paths import trn_home

    overrides = list(args.overrides)
    if args.devices:
        overrides += parse_devices_flag(args.devices)
    report = check(load(overrides)["devices"], trn_home())
    report["warm"] = warm_report()
    if args.json:
        output.print_json(report)
    else:
        print(render(report))
        print(f"{'warm':<10}{report['warm']['summary']}")
    return 0 if report["ok"] else 1


def warm_report() -> dict[str, Any]:
    """Will local jobs start warm (trn.warm), and which warm parents of this user run, with the
    memory they hold? Never a reason for doctor to fail: a job that cannot start warm starts
    cold."""
    from trn.paths import trn_home
    from trn.text import fmt_bytes
    from trn.warm.parents import parents
    from trn.warm.where import WarmUnavailable, wanted

    if not wanted({}):
        return {"state": "off", "summary": "off (TRN_WARM=0): every job starts cold"}
    try:
        found = parents()
    except WarmUnavailable as err:
        return {"state": "unavailable", "summary": f"unavailable, jobs start cold: {err}"}
    home = str(trn_home())
    ours = [p for p in found if p.home == home and p.state == "serving"]
    held = fmt_bytes(sum(p.private or 0 for p in found))
    fleet = f"; {len(found)} warm parent(s) of yours hold {held} (trn warm status)" if found else ""
    listed = [{**p.to_dict(), "this_home": p.home == home} for p in found]
    if not ours:
        summary = "no parent for this home yet: the next trn run starts one" + fleet
        return {"state": "down", "summary": summary, "parents": listed}
    problems = ours[0].problems
    summary = f"up, pid {ours[0].pid}, {len(ours[0].runners)} running" + fleet
    if problems:
        summary = f"refusing to fork ({'; '.join(problems)}): jobs start cold" + fleet
    state = "refusing" if problems else "up"
    return {**ours[0].to_dict(), "state": state, "summary": summary, "parents": listed}
