"""Recycled memory for decoded frames: output arrays reuse the memory of earlier ones that died.

Writing a fresh multi-megabyte array costs the kernel a page fault and a page
of zeroes for every page touched: in a VM about 1 µs per 4 KiB page, 0.7 ms per
720p RGB frame, as much as converting the frame; with transparent huge pages
(NumPy asks for them above 4 MiB) fewer faults, but now and then a stall of
hundreds of milliseconds while the kernel compacts memory. A reader allocates
such arrays over and over (every clip, window, whole-video read), so
:func:`empty_frames` hands out memory of arrays that nothing references any
more, already mapped and warm in cache, instead of fresh pages.

How an array's death is noticed: every array handed out sees its memory
through a fresh *lease* (a ctypes array over a pooled block). Each view,
slice, ``torch.from_numpy`` tensor and ``.numpy()`` of it keeps the lease
alive, so the block goes back to the pool only when nothing can reach the
array any more. Bounded: at most ``limit_bytes`` of idle memory is kept
(oldest blocks are released first); blocks under ``min_bytes`` are left to
the allocator, which recycles small blocks itself. Thread-safe; a forked
child starts with an empty pool.

The default bound, 1/16 of physical memory clamped to 256 MiB-1 GiB, lets a
whole 10 s 720p clip read at once (250 frames, 691 MB) come back for the next
one: as one fresh block it stalled 1.3-1.5 s now and then while the kernel
compacted memory for its huge pages (2-3x slower decoding of that clip). Idle
memory never exceeds what the process already used at its peak.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import weakref
from collections import deque

import numpy as np

__all__ = [
    "DEFAULT_LIMIT_BYTES",
    "MIN_POOLED_BYTES",
    "FrameBufferPool",
    "default_limit_bytes",
    "empty_frames",
    "frame_pool",
]

MIN_LIMIT_BYTES, MAX_LIMIT_BYTES = 256 << 20, 1 << 30


def default_limit_bytes(physical_bytes: int | None = None) -> int:
    """Idle memory the shared pool keeps at most: 1/16 of ``physical_bytes`` (default: this machine's RAM),
    clamped to [256 MiB, 1 GiB]."""
    if physical_bytes is None:
        try:
            physical_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # platform without sysconf: the floor
            physical_bytes = 0
    return min(max(physical_bytes // 16, MIN_LIMIT_BYTES), MAX_LIMIT_BYTES)


#: idle memory the shared pool keeps at most on this machine
DEFAULT_LIMIT_BYTES = default_limit_bytes()
#: arrays smaller than this come straight from NumPy (its allocator reuses small blocks already)
MIN_POOLED_BYTES = 1 << 20
# blocks are whole multiples of this
_GRANULE = 1 << 20


class FrameBufferPool:
    """Hands out uint8 arrays whose memory comes back for reuse when they die (see the module docstring)."""

    def __init__(self, limit_bytes: int = DEFAULT_LIMIT_BYTES, min_bytes: int = MIN_POOLED_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._idle: deque[np.ndarray] = deque()  # blocks nobody uses, oldest first
        # blocks whose last array died; appended by finalizers (which may run inside any call, so they
        # never take the lock) and moved to ``_idle`` under the lock
        self._returned: deque[np.ndarray] = deque()
        self.reused = 0  #: requests served from idle memory (for tests and benchmarks)

    def empty(self, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous uint8 array of ``shape`` with undefined content (like :func:`numpy.empty`)."""
        nbytes = math.prod(shape)
        if nbytes < self.min_bytes or nbytes > self.limit_bytes:
            return np.empty(shape, dtype=np.uint8)
        size = -(-nbytes // _GRANULE) * _GRANULE  # whole granules: few distinct block sizes (and lease types)
        block = self._take(size)
        if block is None:
            block = np.empty(size, dtype=np.uint8)
        lease = (ctypes.c_uint8 * block.nbytes).from_buffer(block)
        finalizer = weakref.finalize(lease, self._returned.append, block)
        finalizer.atexit = False
        return np.frombuffer(lease, dtype=np.uint8, count=nbytes).reshape(shape)

    @property
    def idle_bytes(self) -> int:
        """Bytes of idle memory held for reuse."""
        with self._lock:
            self._collect()
            return sum(b.nbytes for b in self._idle)

    def clear(self) -> None:
        """Release all idle memory."""
        with self._lock:
            self._returned.clear()
            self._idle.clear()

    def _take(self, size: int) -> np.ndarray | None:
        """The smallest idle block of at least ``size`` bytes (and at most twice that), removed from the pool."""
        with self._lock:
            self._collect()
            best: int | None = None
            for i, block in enumerate(self._idle):
                if size <= block.nbytes <= 2 * size and (best is None or block.nbytes < self._idle[best].nbytes):
                    best = i
            if best is None:
                return None
            block = self._idle[best]
            del self._idle[best]  # by position: arrays compare element-wise, so deque.remove cannot be used
            self.reused += 1
        return block

    def _collect(self) -> None:
        """Move returned blocks to the idle list, releasing the oldest beyond ``limit_bytes`` (lock held)."""
        while self._returned:
            self._idle.append(self._returned.popleft())
        total = sum(b.nbytes for b in self._idle)
        while self._idle and total > self.limit_bytes:
            total -= self._idle.popleft().nbytes

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._returned = deque()
        self._idle = deque()


_POOL = FrameBufferPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL._after_fork)


def empty_frames(shape: tuple[int, ...]) -> np.ndarray:
    """uint8 array of ``shape`` (e.g. ``[T, H, W, 3]``) with undefined content, from the shared pool."""
    return _POOL.empty(shape)


def frame_pool() -> FrameBufferPool:
    """The shared pool behind :func:`empty_frames` (to read ``reused`` / ``idle_bytes`` or set ``limit_bytes``)."""
    return _POOL
