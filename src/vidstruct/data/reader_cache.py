"""A per-process LRU of open :class:`~vidstruct.io.VideoReader` objects, shared by the datasets.

Datasets read many samples of the same few videos; reopening a file costs a container probe and a frame index.
The cache keeps the ``capacity`` most recently used readers open and closes the one it evicts. Open files never
cross process boundaries: a pickled cache (a dataset sent to a DataLoader worker) arrives empty.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from vidstruct.io.reader import VideoReader


class ReaderCache:
    """The ``capacity`` (at least 1) most recently used readers, keyed by path."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._readers: OrderedDict[str, VideoReader] = OrderedDict()

    def __len__(self) -> int:
        return len(self._readers)

    def __contains__(self, path: str) -> bool:
        return path in self._readers

    def get(self, path: str, open_reader: Callable[[str], VideoReader]) -> VideoReader:
        """The cached reader of ``path``, opened with ``open_reader(path)`` on a miss; the least recently used
        readers beyond ``capacity`` are closed."""
        reader = self._readers.pop(path, None)
        if reader is None:
            reader = open_reader(path)
        self._readers[path] = reader
        while len(self._readers) > self.capacity:
            self._readers.popitem(last=False)[1].close()
        return reader

    def drop(self, path: str) -> None:
        """Close and forget the reader of ``path`` (after a decode error: the next read reopens the file)."""
        reader = self._readers.pop(path, None)
        if reader is not None:
            reader.close()

    def close(self) -> None:
        """Close every cached reader."""
        while self._readers:
            self._readers.popitem(last=False)[1].close()

    def __getstate__(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "_readers": OrderedDict()}  # open files stay in their process
