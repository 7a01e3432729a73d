"""``trn config where``: the config search path, and which file each group option comes from."""

from __future__ import annotations

import argparse
from typing import Any

from trn import text as output
from trn.config import project

EXAMPLES = """examples:
  trn config where                     the search path and every group's options, by file
  trn config where -cd ~/proj/conf     the same for another project's config dir
  trn config where --json | jq .groups.model

The project's config dir (--config-dir, TRN_CONFIG_DIR, or [tool.trn] config_dir in the nearest
pyproject.toml) is searched before trn's conf/: the first file found for a name wins.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="show where configs come from: the search path and each option's file",
        description="Show the config search path (the project's config dir first, then trn's "
        "bundled conf/), the project root that goes on every job's path, the trusted _target_ "
        "prefixes, and for every group option the file that wins (and what it shadows).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=["where"], help="where: the search path and option files")
    p.add_argument("--json", action="store_true", help="the same as one JSON object")
    project.add_arguments(p)
    p.set_defaults(func=run)


def where() -> dict[str, Any]:
    from trn.config import searchpath
    from trn.config.validate import ALLOWED_TARGETS

    found = project.find()
    defaults = searchpath.defaults_of(found)
    groups: dict[str, Any] = {}
    for group in sorted(searchpath.groups(found)):
        groups[group] = {
            option: {
                "provider": files[0].provider,
                "file": str(files[0].path),
                "shadows": [str(f.path) for f in files[1:]],
                "default": defaults.get(group) == option,
            }
            for option, files in searchpath.options(group, found).items()
        }
    primary = searchpath.project_primary(found)
    return {
        "search_path": [
            {"provider": e.provider, "path": str(e.path)} for e in searchpath.entries(found)
        ],
        "found_by": found.source or None,
        **found.to_record(),
        "allow_targets": list(found.allow_targets),
        "trusted_by_trn": list(ALLOWED_TARGETS),
        "primary": [str(p) for p in (primary, searchpath.conf_dir() / "config.yaml") if p],
        "groups": groups,
    }


def render(info: dict[str, Any]) -> str:
    lines = ["search path (the first file found for a name wins):"]
    for n, entry in enumerate(info["search_path"], 1):
        lines.append(f"  {n}. {entry['provider']:<8} {entry['path']}")
    if info["found_by"]:
        lines.append(f"project: found by {info['found_by']}")
        lines.append(f"  root (first on the path of every job process): {info['project_root']}")
        trusted = ", ".join(info["allow_targets"]) or "none (add [tool.trn] allow_targets)"
        lines.append(f"  trusted _target_ prefixes: {trusted}")
    else:
        lines.append(
            "project: none (pass --config-dir, set TRN_CONFIG_DIR, or add [tool.trn] to "
            "pyproject.toml)"
        )
    lines.append("primary config: " + " laid over ".join(info["primary"]))
    rows = [("group", "option", "from", "file")]
    for group, options in info["groups"].items():
        for option, o in options.items():
            shadow = f"  (shadows {', '.join(o['shadows'])})" if o["shadows"] else ""
            mark = " *" if o["default"] else ""
            rows.append((group, option + mark, o["provider"], o["file"] + shadow))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines.append("")
    lines += [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}" for r in rows]
    lines.append("* the default option")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = where()
    if args.json:
        output.print_json(info)
    else:
        print(render(info))
    return 0
