"""The datasets' LRU of open readers: eviction order, closing, dropping, pickling empty."""

from __future__ import annotations

import pickle

from vidstruct.data.reader_cache import ReaderCache


class FakeReader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_least_recently_used_reader_is_closed_when_over_capacity() -> None:
    opened: list[FakeReader] = []

    def open_reader(path: str) -> FakeReader:
        opened.append(FakeReader(path))
        return opened[-1]

    cache = ReaderCache(2)
    a = cache.get("a", open_reader)
    cache.get("b", open_reader)
    assert cache.get("a", open_reader) is a  # a hit: no new reader, and "a" becomes the most recent
    cache.get("c", open_reader)  # evicts "b", the least recently used
    assert [r.path for r in opened] == ["a", "b", "c"]
    assert [r.closed for r in opened] == [False, True, False]
    assert "b" not in cache and "a" in cache and len(cache) == 2


def test_drop_closes_and_the_next_get_reopens() -> None:
    cache = ReaderCache(0)  # capacity is at least 1
    first = cache.get("a", FakeReader)
    cache.drop("a")
    cache.drop("never-opened")  # no error
    assert first.closed and "a" not in cache
    second = cache.get("a", FakeReader)
    assert second is not first and not second.closed


def test_a_pickled_cache_arrives_empty_and_the_original_keeps_its_readers() -> None:
    cache = ReaderCache(3)
    reader = cache.get("a", FakeReader)
    copy = pickle.loads(pickle.dumps(cache))
    assert len(copy) == 0 and copy.capacity == 3
    assert "a" in cache and not reader.closed
    cache.close()
    assert reader.closed and len(cache) == 0
