"""Which rows of a keyframe the official AVA evaluation keeps, and in which order.

The official ``get_ava_performance.py`` reads each keyframe's rows (those of
label-map classes, in file order) into a Python ``heapq`` min-heap of tuples
``(score, action_id, y1, x1, y2, x2)``: while the heap holds fewer than
``capacity`` rows (50 for detections, unbounded for ground truth) a row is
pushed; once full, a row replaces the heap's smallest tuple only if its score
is *strictly* greater than the smallest score. The kept rows are then sorted by
descending score with Python's stable ``sorted``, so rows of equal score stay
in the order of the heap's internal array. That order is what the evaluation
uses: detections of one keyframe and class are matched to ground truth in it,
and it is the order in which equal scores reach the final ``np.argsort``.

What this means:

- a keyframe with at most ``capacity`` rows keeps them all; with more, every
  row scoring above the 50th highest score is kept, and of the rows that share
  the 50th highest score, the first ones (in file order) enter the heap, and
  later higher-scoring rows evict those of them with the smallest
  ``(action_id, y1, x1, y2, x2)`` first;
- without equal scores, the order is simply by descending score.

:func:`official_keyframe_order` computes that vectorized for every keyframe
without a relevant tie, and replays the heap exactly (``heapq``, as the
official script does) for the keyframes that hold one.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["official_keyframe_order", "replay_heap"]


def replay_heap(rows: list[tuple[float, int, float, float, float, float]], capacity: int) -> list[int]:
    """Positions (into ``rows``) of the rows the official reader keeps, in its output order.

    ``rows``: one keyframe's ``(score, action_id, y1, x1, y2, x2)`` tuples in
    file order; ``capacity`` < 1 keeps every row. Equal tuples are interchangeable
    (they carry the same values), so the position returned for one of them may be
    that of its twin.
    """
    heap: list[tuple] = []
    where: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, row)
        elif row[0] > heap[0][0]:
            heapq.heapreplace(heap, row)
        else:
            continue
        where.setdefault(row, []).append(i)
    kept = sorted(heap, key=lambda t: -t[0])  # stable: equal scores keep the heap array's order
    taken: dict[tuple, int] = {}
    out = []
    for row in kept:
        k = taken.get(row, 0)
        taken[row] = k + 1
        out.append(where[row][k])
    return out


def _needs_replay(
    keys: np.ndarray, scores: np.ndarray, actions: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per keyframe (``keys`` 0..K-1): whether its order or cap depends on equal scores.

    Returns ``(needs [K] bool, by_score [N] row indices sorted by key then descending
    score, rank [N] position of each sorted row within its keyframe)``.
    """
    n_keys = int(keys.max()) + 1 if keys.size else 0
    # keyframe, then descending score, then file order (a lexsort in two stable passes; keyframe numbers that
    # fit 16 bits take numpy's radix sort)
    by_score = np.argsort(-scores, kind="stable")
    k = keys[by_score]
    by_score = by_score[np.argsort(k.astype(np.uint16) if n_keys <= 1 << 16 else k, kind="stable")]
    k_sorted, s_sorted = keys[by_score], scores[by_score]
    starts = np.searchsorted(k_sorted, np.arange(n_keys), side="left")
    rank = np.arange(keys.size) - starts[k_sorted]
    needs = np.zeros(n_keys, dtype=bool)
    # equal scores of one class in one keyframe: their relative order is the heap's. Equal scores of a
    # keyframe are adjacent here; look for a repeated class inside each run of them.
    tied = (k_sorted[1:] == k_sorted[:-1]) & (s_sorted[1:] == s_sorted[:-1])
    if tied.any():
        in_run = np.zeros(keys.size, dtype=bool)
        in_run[1:] |= tied
        in_run[:-1] |= tied
        run_id = np.cumsum(np.concatenate(([True], ~tied)))[in_run]
        members = by_score[in_run]
        pairs = np.unique(np.stack([run_id, actions[members]], axis=1), axis=0, return_counts=True)
        repeated_runs = pairs[0][pairs[1] > 1, 0]
        needs[k_sorted[in_run][np.isin(run_id, repeated_runs)]] = True
    if capacity >= 1:
        # equal scores straddling the cap: which of them are kept is the heap's choice
        at_cap = np.flatnonzero(rank == capacity)
        tie = s_sorted[at_cap] == s_sorted[at_cap - 1]
        needs[k_sorted[at_cap[tie]]] = True
    return needs, by_score, rank


def official_keyframe_order(
    keys: np.ndarray, scores: np.ndarray, actions: np.ndarray, boxes: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept per keyframe and their position in the official per-keyframe order.

    ``keys`` ``[N]`` int64 keyframe index, ``scores`` ``[N]`` float64,
    ``actions`` ``[N]`` int64, ``boxes`` ``[N, 4]`` float64 ``[x1, y1, x2, y2]``,
    all in file order; ``capacity``: rows kept per keyframe (< 1: all).
    Returns ``(kept [M] row indices, position [M] int64)``: ``position`` is the
    row's place in its keyframe's order (0 first).
    """
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    needs, by_score, rank = _needs_replay(keys, scores, actions, capacity)
    keep = ~needs[keys[by_score]]
    if capacity >= 1:
        keep &= rank < capacity
    kept = [by_score[keep]]
    position = [rank[keep]]
    replay = np.flatnonzero(needs)
    if replay.size:
        members = np.flatnonzero(needs[keys])  # file order
        members = members[np.argsort(keys[members], kind="stable")]
        bounds = np.searchsorted(keys[members], replay, side="left")
        bounds = np.append(bounds, members.size)
        for j in range(replay.size):
            rows_j = members[bounds[j] : bounds[j + 1]]
            tuples = [
                (float(s), int(a), float(b[1]), float(b[0]), float(b[3]), float(b[2]))
                for s, a, b in zip(scores[rows_j], actions[rows_j], boxes[rows_j])
            ]
            order = replay_heap(tuples, capacity)
            kept.append(rows_j[order])
            position.append(np.arange(len(order), dtype=np.int64))
    return np.concatenate(kept), np.concatenate(position).astype(np.int64)
