"""Exact nearest neighbours over an in-memory matrix: the delta rows beside the HNSW graph, and the brute-force
answer of a space whose graph is lost or being rebuilt (every current window of the space, read from the
database and the embeddings files)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FlatVectors", "merge_candidates"]


@dataclass(frozen=True)
class FlatVectors:
    """``ids`` uint64 ``[n]`` and their L2-normalised float32 ``vectors`` ``[n, dim]``."""

    ids: np.ndarray
    vectors: np.ndarray

    @classmethod
    def empty(cls, dim: int = 0) -> FlatVectors:
        return cls(np.empty(0, np.uint64), np.empty((0, dim), np.float32))

    def __len__(self) -> int:
        return int(len(self.ids))

    def extend(self, ids: np.ndarray, vectors: np.ndarray) -> FlatVectors:
        """A new store with these rows appended (the first rows of an empty store set its dimension)."""
        if not len(ids):
            return self
        if len(self.ids) == 0:
            return FlatVectors(np.asarray(ids, np.uint64).copy(), np.asarray(vectors, np.float32).copy())
        return FlatVectors(np.concatenate([self.ids, ids]), np.concatenate([self.vectors, vectors]))

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` nearest ids of a normalised ``vector`` [dim] by exact float32 cosine and their distances
        (``1 - similarity``), nearest first (ties: smaller id)."""
        if len(self.ids) == 0 or count <= 0 or self.vectors.shape[1] != len(vector):
            return np.empty(0, np.uint64), np.empty(0, np.float32)
        distances = 1.0 - self.vectors @ np.asarray(vector, np.float32)
        if count < len(distances):
            part = np.argpartition(distances, count - 1)[:count]
        else:
            part = np.arange(len(distances))
        order = part[np.lexsort((self.ids[part], distances[part]))]
        return self.ids[order], distances[order].astype(np.float32)


def merge_candidates(found: list[tuple[np.ndarray, np.ndarray]], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Several ``(ids, distances)`` answers merged: each id once (its smallest distance), nearest first, at most
    ``count``."""
    ids = np.concatenate([f[0] for f in found]) if found else np.empty(0, np.uint64)
    dist = np.concatenate([f[1] for f in found]).astype(np.float32) if found else np.empty(0, np.float32)
    order = np.lexsort((ids, dist))
    ids, dist = ids[order], dist[order]
    _, first = np.unique(ids, return_index=True)
    keep = np.sort(first)[:count]
    return ids[keep].astype(np.uint64), dist[keep]
