"""Which free GPUs to give a job: the closest group in the topology, leaving pairs intact.

For ``k`` GPUs, grow a group from every free GPU by adding the nearest one at each step and keep
the best group by (widest link, total distance, free NVLink partners it strands, indices). With
one GPU, this prefers a GPU whose NVLink partner is already taken, so pairs stay whole for
multi-GPU jobs.
"""

from __future__ import annotations

from trn.devices.snapshot import GpuInfo, Snapshot


def closest(snap: Snapshot, free: list[GpuInfo], k: int) -> list[GpuInfo]:
    groups = [_grow(snap, seed, free, k) for seed in free]
    best = min(groups, key=lambda group: _cost(snap, group, free))
    return sorted(best, key=lambda g: (g.index, g.mig_index or 0))


def _grow(snap: Snapshot, seed: GpuInfo, free: list[GpuInfo], k: int) -> list[GpuInfo]:
    group = [seed]
    while len(group) < k:
        rest = [g for g in free if g not in group]
        group.append(min(rest, key=lambda g: (_sum(snap, g, group), g.index)))
    return group


def _sum(snap: Snapshot, gpu: GpuInfo, group: list[GpuInfo]) -> int:
    return sum(snap.distance(gpu.uuid, g.uuid) for g in group)


def _cost(snap: Snapshot, group: list[GpuInfo], free: list[GpuInfo]) -> tuple:
    pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
    dists = [snap.distance(a.uuid, b.uuid) for a, b in pairs]
    stranded = sum(
        1
        for g in free
        if g not in group and any(snap.link(g.uuid, m.uuid) == "NVLINK" for m in group)
    )
    return (max(dists, default=0), sum(dists), stranded, sorted(g.index for g in group))
