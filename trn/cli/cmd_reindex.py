"""``trn reindex``: rebuild the SQLite index from the job dirs (the index is only a cache)."""

from __future__ import annotations

import argparse
from typing import Any

from trn.jobdir import HomeDir


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "reindex",
        help="rebuild the job index from the job dirs",
        description="Rebuild $TRN_HOME/index.db from every runs/**/job.json.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.registry.store import Registry

    registry = Registry()
    count = registry.reindex()
    print(f"indexed {count} job(s) in {HomeDir(registry.home).index}")
    return 0
