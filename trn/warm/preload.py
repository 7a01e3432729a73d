"""What a warm parent imports before it forks, and how it knows those files changed since.

A forked runner runs the code its parent imported; when one of those files is edited (an
upgrade of trn, torch or Lightning) the parent is stale and a fresh one must fork the next job.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

# What every job imports before its first step; the user's code is never among them.
PRELOAD = (
    "numpy",
    "torch",
    "lightning.pytorch",
    "yaml",
    "hydra.utils",  # instantiate: the data, model and optimizer
    "jsonschema",  # the checkpoint meta and event checks
    "logging.config",
    "trn.runner.main",
    "trn.runner.build",
    "trn.runner.callbacks",
    "trn.runner.checkpoint",
    "trn.runner.loggers",
    "trn.runner.metrics",
    "trn.runner.tasks",
    "trn.runner.usermodule",
    "trn.checkpoints.io",
    "trn.checkpoints.meta",
    "trn.events.writer",
    "trn.events.sinks",
    "trn.models",
    "trn.data.datamodule",
)


def preload() -> list[str]:
    """Import :data:`PRELOAD`; the problems that make forking unsafe (none: fork away)."""
    gc.disable()  # no collection while importing: fewer freed holes in pages forks share
    for name in PRELOAD:
        importlib.import_module(name)
    gc.enable()
    import torch

    problems = []
    if torch.cuda.is_initialized():
        problems.append("CUDA was initialised while importing")
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:
        problems.append(f"{threads} threads run after importing (a fork keeps only one)")
    return problems


def module_files() -> dict[str, int]:
    """``{path: mtime_ns}`` of every imported module's file, and of the interpreter."""
    paths = {os.path.realpath(sys.executable)}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            paths.add(path)
    stamps = {}
    for path in paths:
        try:
            stamps[path] = os.stat(path).st_mtime_ns
        except OSError:
            stamps[path] = -1
    return stamps
