"""ShardDataset reads, ShardSampler order and sharding, and state_dict round trips."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from trn.data.build import BuildOptions, build
from trn.data.dataset import ShardDataset
from trn.data.sampler import ShardSampler

N = 203  # train samples: 7 shards of 32 less a few, and not a multiple of the batch or the ranks


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    """Sample i has x = [i, 2i, 3i] and y = i, so every batch names its samples."""
    tmp = tmp_path_factory.mktemp("loader")
    i = np.arange(N)
    src = tmp / "src.npz"
    np.savez(src, x=(i[:, None] * [1, 2, 3]).astype(np.float32), y=i)
    build(src, tmp / "ids", BuildOptions(shard_size=32, splits={"train": 1.0}), False)
    return tmp / "ids"


def test_items_and_batches_across_shards(ds: Path) -> None:
    data = ShardDataset(ds)
    assert len(data) == N and len(data.shards) == 7
    x, y = data[40]
    assert x.tolist() == [40, 80, 120] and y.item() == 40 and y.dtype == torch.int64
    idx = np.array([202, 0, 31, 32, 95, 5, 160, 31])  # unsorted, several shards, a repeat
    x, y = data[idx]
    assert x.dtype == torch.float32 and x.shape == (8, 3) and y.tolist() == idx.tolist()
    assert x[:, 2].tolist() == (3 * idx).tolist()
    assert data[[-1]][1].tolist() == [N - 1]
    with pytest.raises(IndexError):
        data[[N]]


def test_memmaps_are_not_pickled(ds: Path) -> None:
    data = ShardDataset(ds)
    data[[1, 2, 3]]
    clone = pickle.loads(pickle.dumps(data))
    assert clone._maps is None and len(pickle.dumps(data)) < 20_000
    assert clone[[7]][1].tolist() == [7]


def epoch_of(sampler: ShardSampler) -> list[int]:
    return [int(i) for batch in sampler for i in batch]


def test_order_is_a_pure_function_of_seed_and_epoch() -> None:
    a, b = ShardSampler(N, 16, seed=7), ShardSampler(N, 16, seed=7)
    a.set_epoch(3), b.set_epoch(3)
    assert epoch_of(a) == epoch_of(b) == epoch_of(a)
    assert sorted(epoch_of(a)) == list(range(N))
    b.set_epoch(4)
    assert epoch_of(a) != epoch_of(b)
    assert epoch_of(ShardSampler(N, 16, seed=8)) != epoch_of(ShardSampler(N, 16, seed=7))
    assert epoch_of(ShardSampler(N, 16, shuffle=False)) == list(range(N))


@pytest.mark.parametrize("n,batch,world", [(N, 16, 2), (N, 16, 3), (9, 4, 2), (33, 16, 2)])
def test_ranks_cover_every_sample_once_with_equal_batch_counts(n, batch, world) -> None:
    samplers = [ShardSampler(n, batch, rank=r, world_size=world, seed=1) for r in range(world)]
    seen = [i for s in samplers for i in epoch_of(s)]
    assert sorted(seen) == list(range(n))
    counts = {len(list(s)) for s in samplers} | {len(s) for s in samplers}
    assert len(counts) == 1
    assert all(1 <= len(b) <= batch for s in samplers for b in s)


def test_drop_last_gives_full_batches_only() -> None:
    samplers = [ShardSampler(N, 16, rank=r, world_size=2, drop_last=True) for r in range(2)]
    batches = [b for s in samplers for b in s]
    assert len(batches) == 12 and {len(b) for b in batches} == {16}
    flat = np.concatenate(batches)
    assert len(set(flat.tolist())) == len(flat)


def test_two_ranks_two_workers_read_each_sample_exactly_once(ds: Path) -> None:
    data = ShardDataset(ds)
    seen: list[int] = []
    for rank in range(2):
        sampler = ShardSampler(len(data), 16, rank=rank, world_size=2, seed=3)
        sampler.set_epoch(1)
        loader = DataLoader(data, sampler=sampler, batch_size=None, num_workers=2)
        got = [y.tolist() for _, y in loader]
        assert got == [b.tolist() for b in sampler.batches(1)]  # in sampler order
        seen += [i for batch in got for i in batch]
    assert sorted(seen) == list(range(N))


@pytest.mark.parametrize("stop", [0, 3, 12, 13])
def test_state_dict_round_trip_continues_at_the_next_sample(stop: int) -> None:
    full = ShardSampler(N, 8, rank=1, world_size=2, seed=5)
    full.set_epoch(2)
    whole = list(full)
    first = ShardSampler(N, 8, rank=1, world_size=2, seed=5)
    first.set_epoch(2)
    it = iter(first)
    head = [next(it) for _ in range(stop)]
    state = pickle.loads(pickle.dumps(first.state_dict()))
    assert state["epoch"] == 2 and state["samples"] == sum(len(b) for b in head)
    resumed = ShardSampler(N, 8, rank=1, world_size=2, seed=5)
    resumed.load_state_dict(state)
    tail = list(resumed)
    assert [b.tolist() for b in head + tail] == [b.tolist() for b in whole]
    resumed.set_epoch(3)  # the next epoch is whole again
    assert len(list(resumed)) == len(whole)


def test_resume_mid_batch_and_changed_layout() -> None:
    a = ShardSampler(N, 8, seed=5)
    resumed = ShardSampler(N, 8, seed=5)
    resumed.load_state_dict({**a.state_dict(), "samples": 12})
    assert np.concatenate(list(resumed)).tolist() == np.concatenate(list(a))[12:].tolist()
    other = ShardSampler(N, 8, seed=5, world_size=2)
    with pytest.warns(UserWarning, match="layout changed .*world_size"):
        other.load_state_dict({**a.state_dict(), "samples": 12, "epoch": 4})
    assert other.epoch == 4 and len(np.concatenate(list(other))) == (N + 1) // 2
