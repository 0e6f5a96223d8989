"""Data order: (seed, epoch) shuffles, rank shards, resuming mid-epoch, per-sample seeds."""

from __future__ import annotations

import random

import numpy as np
import torch
from enginekit import MovingSquares

from vidstruct.engine.distributed import DistInfo
from vidstruct.engine.sampling import ResumableSampler, SeededSamples, batches_from, make_train_loader


def test_epoch_order_is_randperm_of_seed_plus_epoch():
    s = ResumableSampler(10, batch_size=3, info=DistInfo(), seed=7)
    s.set_position(epoch=2)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(7 + 2)).tolist()[:9]  # 3 whole batches
    assert [i for i, _ in s] == expected
    assert all(e == 2 for _, e in s)
    s.set_position(epoch=2, start_batch=2)
    assert [i for i, _ in s] == expected[6:9] and len(s) == 3


def test_ranks_get_disjoint_shards():
    shards = []
    for rank in range(2):
        s = ResumableSampler(11, batch_size=2, info=DistInfo(rank=rank, world_size=2), seed=0)
        s.set_position(epoch=0)
        shards.append([i for i, _ in s])
    assert len(shards[0]) == len(shards[1]) == 4  # 5 per rank, cut to 2 whole batches
    assert not set(shards[0]) & set(shards[1])


def test_batches_from_a_micro_batch_equals_the_tail_of_a_full_run():
    data = MovingSquares(20, augment_noise=0.5)
    loader = make_train_loader(data, batch_size=4, info=DistInfo(), seed=3)  # 5 batches per epoch
    full = batches_from(loader, start=0)
    reference = [next(full) for _ in range(12)]  # crosses two epoch boundaries
    resumed = batches_from(make_train_loader(data, batch_size=4, info=DistInfo(), seed=3), start=7)
    for ref in reference[7:]:
        got = next(resumed)
        assert torch.equal(got["index"], ref["index"])
        assert torch.equal(got["clip"], ref["clip"])  # same random augmentation too
    # different epochs use different orders
    assert not torch.equal(reference[0]["index"], reference[5]["index"])


def test_seeded_samples_are_reproducible_and_leave_global_rng_alone():
    data = SeededSamples(MovingSquares(4, augment_noise=1.0), seed=0)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    a = data[(2, 0)]["clip"]
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    assert torch.equal(a, data[(2, 0)]["clip"])  # same (index, epoch) -> same augmentation
    assert not torch.equal(a, data[(2, 1)]["clip"])  # another epoch -> another draw


def test_seeded_samples_same_with_worker_processes():
    data = MovingSquares(8, augment_noise=1.0)
    main = next(batches_from(make_train_loader(data, batch_size=4, info=DistInfo(), seed=1), 0))
    workers = next(batches_from(make_train_loader(data, batch_size=4, info=DistInfo(), seed=1, num_workers=2), 0))
    assert torch.equal(main["clip"], workers["clip"])
