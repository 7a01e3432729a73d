"""Hydra's own inspection flags on ``trn run``: ``--cfg job|hydra|all``, ``--resolve``,
``--package``, ``--info``. They print and start nothing; Hydra's machinery does the printing."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trn.errors import UsageError

INFO = ["all", "config", "defaults", "defaults-tree", "plugins", "searchpath"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Hydra's inspection flags (print, start nothing)")
    group.add_argument(
        "--cfg",
        choices=["job", "hydra", "all"],
        help="print the composed config (job), Hydra's own (hydra), or both (all)",
    )
    group.add_argument(
        "--resolve", action="store_true", help="with --cfg: resolve ${...} interpolations"
    )
    group.add_argument(
        "--package", metavar="KEY", help="with --cfg: print only this node, e.g. optimizer"
    )
    group.add_argument(
        "--info",
        nargs="?",
        const="all",
        metavar="TOPIC",
        help=f"Hydra's information; TOPIC: {', '.join(INFO)} (default all)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """Whether ``args`` ask for Hydra's inspection; ``--info model=x`` took an override as its
    TOPIC (argparse cannot tell), so that override goes back to the others."""
    info = getattr(args, "info", None)
    if info is not None and info not in INFO:
        if "=" not in info:
            raise UsageError(f"--info {info}: no such topic; use one of {', '.join(INFO)}")
        args.overrides.insert(0, info)
        args.info = "all"
    keys = ("cfg", "info", "resolve", "package")
    return any(getattr(args, k, None) for k in keys)


def show(args: argparse.Namespace, overrides: list[str], config_dir: Path | None = None) -> int:
    """Print what ``--cfg`` / ``--info`` ask for, after trn's own checks of the overrides."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from trn.config.arguments import open_trainer
    from trn.config.compose import PRIMARY, compose, find_project, hydra_session
    from trn.config.resolvers import resolving

    if (args.resolve or args.package) and not args.cfg:
        raise UsageError("--resolve and --package go with --cfg; add --cfg job")
    project = find_project(config_dir)  # --info searchpath: the project's dir, then trn's conf/
    cfg = compose(overrides, project=project)  # bad overrides: trn's one-line errors, exit 2
    if args.package and args.package != "_global_" and OmegaConf.select(cfg, args.package) is None:
        raise UsageError(
            f"--package {args.package}: no such node in the config; "
            "see the top-level keys with `trn run --cfg job`"
        )
    overrides = open_trainer(overrides)  # trainer.KEY for any Trainer argument, as compose
    with hydra_session(project), root_logging_kept(), resolving(project.root):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        if args.info:
            hydra.show_info(args.info, config_name=PRIMARY, overrides=overrides)
        else:
            hydra.show_cfg(PRIMARY, overrides, args.cfg, args.package, resolve=args.resolve)
    return 0


@contextmanager
def root_logging_kept() -> Iterator[None]:
    """The root logger as it was after the block: ``show_info`` adds a DEBUG handler on stdout
    to it for good, which would print Hydra's debug lines into a later command of this process
    (``main()`` called from Python, or in tests)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
