"""What a job asks for: the ``devices`` config group as a typed request, and ``--devices``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trn.errors import UsageError

KINDS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class DeviceRequest:
    """``conf/devices/*.yaml``, read once; every field has the default a missing key gets."""

    kind: str = "auto"  # auto: GPUs if the pool has any, else CPU
    count: int = 1  # GPUs per node
    processes: int = 1  # CPU only: >1 runs DDP over gloo
    ids: tuple[str, ...] = ()  # explicit GPUs: NVML indices or UUIDs (prefixes work)
    min_free_memory_mb: int = 0  # a GPU with less free memory counts as busy
    wait: bool = True  # wait for busy/leased GPUs (else fail at once)
    wait_timeout_s: float | None = None  # None: wait as long as it takes
    num_nodes: int = 1  # >1: multi-node DDP under Slurm/torchrun (count GPUs on each)
    threads: int | None = None  # per process; None: the user's OMP_NUM_THREADS, else the cores
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_config(cls, node: dict[str, Any] | DeviceRequest) -> DeviceRequest:
        if isinstance(node, DeviceRequest):
            return node
        node = dict(node or {})
        kind = str(node.pop("kind", "auto"))
        if kind not in KINDS:
            raise UsageError(
                f"devices={kind} is not a devices option; use one of {', '.join(KINDS)}"
            )
        ids = node.pop("ids", None) or ()
        if isinstance(ids, str | int):
            ids = [ids]
        timeout = node.pop("wait_timeout_s", None)
        threads = node.pop("threads", None)
        count = len(ids) or int(node.pop("count", None) or 1)  # explicit ids win over count
        node.pop("count", None)
        return cls(
            kind=kind,
            count=count,
            processes=int(node.pop("processes", None) or 1),
            ids=tuple(str(i) for i in ids),
            min_free_memory_mb=int(node.pop("min_free_memory_mb", None) or 0),
            wait=bool(node.pop("wait", True)),
            wait_timeout_s=None if timeout is None else float(timeout),
            num_nodes=int(node.pop("num_nodes", None) or 1),
            threads=None if threads is None else int(threads),
            extra=node,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "processes": self.processes,
            "ids": list(self.ids),
            "min_free_memory_mb": self.min_free_memory_mb,
            "wait": self.wait,
            "wait_timeout_s": self.wait_timeout_s,
            "num_nodes": self.num_nodes,
            "threads": self.threads,
        }


_GPU_ID = re.compile(r"^(?:(?:cuda|gpu):)?(\d+|(?:GPU|MIG)-[0-9A-Za-z/-]+)$")


def parse_devices_flag(text: str) -> list[str]:
    """``--devices`` as Hydra overrides: ``cuda:0,cuda:1`` -> ``["devices=gpu", "devices.ids=[0,1]"]``.

    Accepts ``auto``, ``cpu``, ``gpu``/``cuda`` (one free GPU), and a comma list of ``cuda:N``,
    ``N`` or GPU/MIG UUIDs.
    """
    flag = text.strip()
    if flag.lower() in ("auto", "cpu"):
        return [f"devices={flag.lower()}"]
    if flag.lower() in ("gpu", "cuda"):
        return ["devices=gpu"]
    items = [t.strip() for t in flag.split(",")]
    matches = [_GPU_ID.match(t) for t in items]
    if not flag or not all(matches):
        raise UsageError(
            f"--devices {text!r} is not understood; use cpu, auto, gpu, cuda:0,cuda:1 "
            "or GPU UUIDs (GPU-…)"
        )
    ids = [m.group(1) for m in matches if m]
    quoted = ",".join(i if i.isdigit() else f"'{i}'" for i in ids)
    return ["devices=gpu", f"devices.ids=[{quoted}]"]


MULTI_NODE_LAUNCHERS = ("slurm",)  # launchers that start a job's ranks on every node


def check_one_machine(devices: dict[str, Any]) -> None:
    """A job this machine starts alone runs on this machine: ``devices.num_nodes > 1`` needs a
    launcher that starts ranks on the other nodes too, else rank 0 waits for them forever."""
    nodes = DeviceRequest.from_config(devices).num_nodes
    if nodes > 1:
        raise UsageError(
            f"devices.num_nodes={nodes}: this machine cannot start the ranks of other machines, "
            f"so they would never join; run it on Slurm, a sweep of one point: trn run -m "
            f"hydra/launcher=slurm devices.num_nodes={nodes} ... (docs/sweeps.md), or set "
            "devices.num_nodes=1"
        )
