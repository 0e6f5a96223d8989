"""Recycled frame memory: reused only once nothing can reach the old array, bounded, correct frames after reuse."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import torch
from videokit import id_video, read_ids

from vidstruct.io import VideoReader, iter_windows
from vidstruct.io.frame_buffers import FrameBufferPool, default_limit_bytes, frame_pool

MIB = 1 << 20
SHAPE = (4, 512, 512, 3)  # 3 MiB


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_memory_of_a_dead_array_is_reused() -> None:
    pool = FrameBufferPool()
    a = pool.empty(SHAPE)
    assert a.shape == SHAPE and a.dtype == np.uint8 and a.flags.c_contiguous and a.flags.writeable
    address = _address(a)
    del a
    b = pool.empty(SHAPE)
    assert _address(b) == address and pool.reused == 1


def test_memory_reachable_through_a_view_or_tensor_is_never_handed_out() -> None:
    pool = FrameBufferPool()
    for keep in (
        lambda a: a[1:3, ::2],  # numpy view
        lambda a: torch.from_numpy(a)[2],  # tensor of a view
        lambda a: torch.from_numpy(a).numpy()[0, 0],  # numpy view of a tensor
    ):
        a = pool.empty(SHAPE)
        a[...] = 7
        survivor = keep(a)
        del a
        gc.collect()
        b = pool.empty(SHAPE)
        b[...] = 0
        assert not np.shares_memory(b, np.asarray(survivor))
        assert int(np.asarray(survivor).min()) == 7  # untouched by the new array
        del b, survivor  # both blocks go back: the next round may reuse them


def test_idle_memory_is_bounded_oldest_released_first() -> None:
    pool = FrameBufferPool(limit_bytes=8 * MIB)
    a0, a1, a2 = (pool.empty((4 * MIB,)) for _ in range(3))
    addresses = [_address(a) for a in (a0, a1, a2)]
    del a0
    del a1
    del a2
    assert pool.idle_bytes == 8 * MIB
    again = [pool.empty((4 * MIB,)) for _ in range(3)]
    assert sorted(_address(a) for a in again[:2]) == sorted(addresses[1:])  # the first one was released
    assert pool.reused == 2


def test_small_and_huge_arrays_bypass_the_pool() -> None:
    pool = FrameBufferPool(limit_bytes=8 * MIB)
    for shape in ((64, 64, 3), (16 * MIB,)):
        a = pool.empty(shape)
        assert a.shape == shape
        del a
    assert pool.idle_bytes == 0 and pool.reused == 0


def test_reader_and_windows_give_correct_frames_in_reused_memory(tmp_path: Path) -> None:
    path = id_video(tmp_path / "big.mp4", 24, 24, gop=6, height=256, width=256)  # 24 frames: 4.5 MiB
    pool = frame_pool()
    reused = pool.reused
    with VideoReader(path) as reader:
        first = reader.get_frames(range(24))
        assert read_ids(first) == list(range(24))
        del first
        second = reader.get_frames(range(23, -1, -1))  # reversed: the reused block is rewritten
        assert read_ids(second) == list(range(23, -1, -1))
        assert pool.reused > reused
    windows = [w for w in iter_windows(path, window_s=0.5, stride_s=0.5, fps=24)]  # 12 frames: 2.25 MiB each
    assert [read_ids(w.frames) for w in windows] == [list(range(0, 12)), list(range(12, 24))]


def test_best_fit_takes_the_smallest_block_that_is_at_most_twice_the_request() -> None:
    pool = FrameBufferPool()
    small, large, huge = pool.empty((2 * MIB,)), pool.empty((8 * MIB,)), pool.empty((40 * MIB,))
    large_address = _address(large)
    del small, large, huge
    c = pool.empty((5 * MIB,))  # 2 MiB is too small, 40 MiB more than twice 5: the 8 MiB block
    assert _address(c) == large_address and c.shape == (5 * MIB,)
    assert pool.idle_bytes == 42 * MIB


def test_default_bound_is_a_sixteenth_of_ram_within_256_mib_and_1_gib() -> None:
    gib = 1 << 30
    assert default_limit_bytes(2 * gib) == 256 * MIB  # 128 MiB raised to the floor
    assert default_limit_bytes(8 * gib) == 512 * MIB
    assert default_limit_bytes(24 * gib) == gib  # 1.5 GiB capped
    assert 256 * MIB <= default_limit_bytes() <= gib
    assert FrameBufferPool().limit_bytes == default_limit_bytes()
