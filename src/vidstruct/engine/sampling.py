"""Reproducible, resumable data order for training and sharded order for evaluation.

Training data order is a pure function of ``(seed, epoch)``:

- :class:`ResumableSampler` is a :class:`~torch.utils.data.DistributedSampler`
  (one shard per rank, ``num_replicas = 1`` in a single process) whose epoch
  permutation comes from ``seed + epoch`` and which can start ``start_batch``
  batches into an epoch, so a resumed run skips exactly the batches it had
  already consumed, without reading them;
- :class:`SeededSamples` reseeds Python's ``random``, NumPy and torch before
  each sample from ``(seed, epoch, index)``, so random augmentations do not
  depend on the worker that loads a sample nor on where the run was resumed.

In the main process (``num_workers = 0``) the global RNG states are restored
after each sample, so loading does not disturb e.g. dropout.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

from vidstruct.engine.distributed import DistInfo
from vidstruct.errors import InputError


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` of ``epoch`` (stable across runs and platforms)."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class ResumableSampler(DistributedSampler):
    """Yields ``(index, epoch)`` keys of this rank's shard, from ``start_batch`` on.

    Shuffling follows :class:`DistributedSampler` (``randperm`` seeded with
    ``seed + epoch``, rank ``r`` takes positions ``r, r + world, ...``); with
    ``drop_last`` the shard is cut to whole batches.
    """

    def __init__(self, dataset_len: int, *, batch_size: int, info: DistInfo, seed: int, shuffle: bool = True) -> None:
        super().__init__(
            range(dataset_len),  # type: ignore[arg-type]
            num_replicas=info.world_size,
            rank=info.rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=True,
        )
        self.batch_size = batch_size
        self.batches_per_epoch = self.num_samples // batch_size
        if self.batches_per_epoch == 0:
            raise InputError(
                f"training set has {dataset_len} samples: fewer than one batch of {batch_size} per process "
                f"on {info.world_size} process(es); lower train.batch_size"
            )
        self.start_batch = 0

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        """Iterate ``epoch`` from batch ``start_batch`` (``0 <= start_batch < batches_per_epoch``)."""
        self.set_epoch(epoch)
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[: self.batches_per_epoch * self.batch_size]
        for index in indices[self.start_batch * self.batch_size :]:
            yield (int(index), self.epoch)

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


@contextmanager
def _preserved_global_rng() -> Iterator[None]:
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


class SeededSamples(Dataset):
    """Wraps a map-style dataset: ``self[(index, epoch)]`` = ``dataset[index]`` under a per-sample seed."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        s = sample_seed(self.seed, epoch, index)
        if get_worker_info() is None:
            with _preserved_global_rng():
                return self._load(index, s)
        return self._load(index, s)

    def _load(self, index: int, s: int) -> Any:
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.default_generator.manual_seed(s)
        return self.dataset[index]


def make_train_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    info: DistInfo,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader over ``dataset`` with a :class:`ResumableSampler` (``loader.sampler``)."""
    sampler = ResumableSampler(len(dataset), batch_size=batch_size, info=info, seed=seed)  # type: ignore[arg-type]
    return DataLoader(
        SeededSamples(dataset, seed),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=True,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def batches_from(loader: DataLoader, start: int) -> Iterator[Any]:
    """Endless micro-batches of ``loader`` starting at global micro-batch number ``start``.

    Micro-batch ``m`` is batch ``m % batches_per_epoch`` of epoch ``m // batches_per_epoch``.
    """
    sampler: ResumableSampler = loader.sampler  # type: ignore[assignment]
    epoch, offset = divmod(start, sampler.batches_per_epoch)
    while True:
        sampler.set_position(epoch, offset)
        yield from loader
        epoch, offset = epoch + 1, 0


class ShardSampler(torch.utils.data.Sampler[int]):
    """Evaluation order: rank ``r`` of ``w`` takes indices ``r, r + w, ...`` (no padding, no duplicates)."""

    def __init__(self, dataset_len: int, info: DistInfo) -> None:
        self.indices = list(range(info.rank, dataset_len, info.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_eval_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    info: DistInfo,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A sequential DataLoader over this rank's shard of ``dataset``."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), info),  # type: ignore[arg-type]
        num_workers=num_workers,
        collate_fn=collate_fn,
    )
