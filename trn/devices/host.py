"""Facts about this host that need neither NVML nor torch: usable CPUs, the inherited GPU pool,
and which torch build is installed (read from ``torch/version.py`` without importing torch).
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
from collections.abc import Mapping
from pathlib import Path

from trn.devices.snapshot import GpuInfo

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    return cpu_limit(cgroup_root)[0]


def affinity() -> list[int]:
    """The CPUs this process may run on (its affinity mask; every CPU where there is none)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def cpu_limit(cgroup_root: Path = CGROUP) -> tuple[int, str]:
    """Usable CPUs and how that number came about (for ``trn doctor``)."""
    mask = len(affinity())
    quota = cgroup_quota(cgroup_root)
    if quota is not None and quota < mask:
        return quota, f"{mask} in affinity, cgroup quota {quota}"
    return mask, f"{mask} in affinity" + ("" if quota is None else f", quota {quota}")


def cgroup_quota(root: Path = CGROUP) -> int | None:
    """Whole CPUs of a cgroup v2 ``cpu.max`` or v1 ``cfs_quota_us`` limit; None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 else max(1, math.ceil(quota_us / period_us))


def torch_build() -> dict[str, str | None]:
    """``{"version", "cuda", "hip"}`` of the installed torch, read from its ``version.py``."""
    out: dict[str, str | None] = {"version": None, "cuda": None, "hip": None}
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return out
    path = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return out
    names = {"__version__": "version", "cuda": "cuda", "hip": "hip"}
    for node in tree.body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names and value is not None:
            try:
                found = ast.literal_eval(value)  # safe: literals only, never code
            except ValueError:
                continue
            out[names[target.id]] = None if found is None else str(found)
    return out


def pool_from_env(
    gpus: list[GpuInfo], env: Mapping[str, str] | None = None
) -> tuple[list[str] | None, str | None]:
    """The UUIDs an inherited ``CUDA_VISIBLE_DEVICES`` (or Slurm allocation) lets us use.

    Indices are NVML (PCI bus) indices; UUIDs may be given in full or as a unique prefix, as CUDA
    accepts them. Like CUDA, the list stops at the first entry that names no device.
    """
    env = os.environ if env is None else env
    for var in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        if var in env:
            text = env[var].strip()
            return _resolve(gpus, text), f"{var}={text}"
    return None, None


def _resolve(gpus: list[GpuInfo], text: str) -> list[str]:
    pool: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        match = _match(gpus, item)
        if not match:
            break
        pool.extend(u for u in match if u not in pool)
    return pool


def _match(gpus: list[GpuInfo], item: str) -> list[str]:
    if item.isdigit():  # a whole GPU: its MIG slices when in MIG mode
        return [g.uuid for g in gpus if g.index == int(item)]
    if not item or item == "-1" or item.lower() == "nodevfiles":
        return []
    found = [g.uuid for g in gpus if g.uuid.startswith(item)]
    if not found:  # a parent GPU's UUID selects its MIG slices
        found = [g.uuid for g in gpus if g.mig_parent and g.mig_parent.startswith(item)]
    return found
