"""File locks shared by the processes that write an embedding space's index files (the API, workers, indexers).

One lock file per space and purpose under ``DATA/indexes``: ``<space>.lock`` guards the files (exclusive to add a
delta segment or commit a new main graph, shared to read the manifest and the segments), ``<space>.build`` lets
one process at a time build a new main graph (a compaction or a rebuild from the database) while the others go on
reading and appending. ``fcntl.flock`` locks belong to an open file description, so two threads of one process
that each open the file exclude each other as two processes do; the kernel drops a lock when its holder dies.
Take ``build`` before ``lock``, never the other way round.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["space_lock"]


@contextlib.contextmanager
def space_lock(
    root: Path, key: str, purpose: str = "lock", *, shared: bool = False, blocking: bool = True
) -> Iterator[bool]:
    """Hold ``root/<key>.<purpose>`` (shared or exclusive) for the ``with`` block; yields True when held, False
    when ``blocking`` is False and another holder has it (the block then runs without the lock)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f"{key}.{purpose}", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
