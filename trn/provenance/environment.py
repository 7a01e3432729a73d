"""``environment.json``: the interpreter, packages, devices, command line and environment of a job.

Written by the submitting process, which must stay fast and must not import torch: versions are
read from the installed distributions' ``*.dist-info`` directory names (the names importlib.metadata
itself lists; a name without a version falls back to reading its metadata), torch's CUDA build
from its ``version.py``, the GPUs and driver from the job's allocation. cuDNN is the version of the
``nvidia-cudnn-*`` wheel when one is installed, else null (a system cuDNN is only known to torch at
run time).
"""

from __future__ import annotations

import getpass
import os
import platform
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trn import __version__, fsutil
from trn.jobdir import JobDir

ENVIRONMENT = JobDir.ENVIRONMENT
ENV_PREFIXES = ("TRN_", "CUDA_", "SLURM_")
SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD")
MASK = "***"
_DIST_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)\.(dist|egg)-info$")


def normalize(name: str) -> str:
    """PEP 503: ``Foo_Bar.baz`` and ``foo-bar-baz`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages(paths: list[str] | None = None) -> dict[str, str]:
    """Every installed distribution, normalized name -> version; the first on ``sys.path`` wins,
    as it does for ``import``."""
    found: dict[str, str] = {}
    for entry in sys.path if paths is None else paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            match = _DIST_RE.match(name)
            if match:
                found.setdefault(normalize(match["name"]), match["version"])
            else:  # no version in the name (an old egg-info): read its metadata
                _from_metadata(Path(entry or ".", name), found)
    return dict(sorted(found.items()))


def _from_metadata(path: Path, found: dict[str, str]) -> None:
    import importlib.metadata  # here: the name of almost every distribution has its version

    try:
        meta = importlib.metadata.PathDistribution(path).metadata
        if meta and meta["Name"] and meta["Version"]:
            found.setdefault(normalize(meta["Name"]), meta["Version"])
    except (OSError, ValueError):
        pass


def masked_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``TRN_``/``CUDA_``/``SLURM_`` variables; a secret-looking name keeps only its name."""
    env = os.environ if env is None else env
    return {
        key: MASK if any(word in key.upper() for word in SECRET_WORDS) else value
        for key, value in sorted(env.items())
        if key.startswith(ENV_PREFIXES)
    }


def environment(
    allocation: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
    cwd: Path | str | None = None,
) -> dict[str, Any]:
    """What ``environment.json`` holds. ``allocation``: the job's allocation (``device_ids``,
    ``labels``) plus, where the caller has a device snapshot, ``gpus`` (``[{"uuid", "name"}]``),
    ``driver_version`` and ``cuda_driver_version``."""
    from trn.devices.host import torch_build

    alloc = dict(allocation or {})
    pkgs = packages()
    build = torch_build()
    cudnn = next((v for k, v in pkgs.items() if k.startswith("nvidia-cudnn")), None)
    return {
        "schema": "trn.environment/1",
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "versions": {
            "trn": __version__,
            "torch": build.get("version") or pkgs.get("torch"),
            "lightning": pkgs.get("lightning") or pkgs.get("pytorch-lightning"),
            "cuda": build.get("cuda"),  # the CUDA torch was built for; null: a CPU build
            "cuda_driver": alloc.get("cuda_driver_version"),
            "cudnn": cudnn,
        },
        "devices": {
            "accelerator": alloc.get("accelerator"),
            "ids": alloc.get("device_ids", []),
            "labels": alloc.get("labels", []),
            "gpus": alloc.get("gpus", []),
            "driver": alloc.get("driver_version"),
        },
        "packages": pkgs,
        "argv": list(sys.argv if argv is None else argv),
        "user": _user(),
        "host": socket.gethostname(),
        "cwd": str(cwd or os.getcwd()),
        "env": masked_env(),
    }


def write_environment(
    job_dir: Path | str,
    allocation: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
    cwd: Path | str | None = None,
) -> dict[str, Any] | None:
    """Write ``job_dir/environment.json``; on any failure warn and return None (a job never fails
    for its provenance)."""
    try:
        data = environment(allocation, argv, cwd)
        fsutil.atomic_write_json(Path(job_dir) / ENVIRONMENT, data)
        return data
    except Exception as err:  # noqa: BLE001 - provenance must never fail a submission
        print(f"trn: warning: {ENVIRONMENT} not written ({err})", file=sys.stderr)
        return None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (containers)
        return None
