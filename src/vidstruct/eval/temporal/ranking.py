"""Ranking by score within groups, with the two tie rules of ``vidstruct eval`` (``--tie-order``).

Where predictions share a score, the order they are ranked in changes
ActivityNet-style metrics (the matching is greedy along the ranking). Two rules:

- ``"stable"`` (default): descending score; equal scores keep their input
  order (the first listed is ranked first). Deterministic on every machine:
  ``np.lexsort((-score, group))``.
- ``"official"``: the order of ActivityNet's official ``Evaluation`` scripts.
  They sort each group (detection: one class over all videos; proposals: one
  video) with ``score.argsort()[::-1]`` on the group's scores in input order,
  i.e. numpy's *default* ``argsort`` (not a stable sort) reversed. This rule
  calls exactly that, so it reproduces the official scripts run with the same
  numpy on the same CPU. Numpy's default sort is introsort, whose insertion
  sort keeps arrays of at most 16 items in input order (so ties come out
  *reversed* after the ``[::-1]``), while longer arrays are partitioned in an
  order of their own; on x86 CPUs with AVX-512 (numpy >= 1.25; AVX2 in later
  releases) numpy dispatches to the x86-simd-sort library instead, which does
  not keep even four tied items in input order (numpy 2.4 on an AVX-512 CPU
  sorts ``[1, 1, 0, 0]`` as ``[3, 2, 1, 0]``, introsort as ``[2, 3, 0, 1]``).
  A group of at most 16 items that all share one score comes out in input
  order with both, so its official ranking is its input order reversed.

Without ties the two rules give the same ranking, so ``"official"`` only
re-sorts the groups that hold a tie.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from vidstruct.errors import InputError

__all__ = ["TIE_ORDERS", "TieOrder", "check_tie_order", "rank_by_score"]

TieOrder = Literal["stable", "official"]
TIE_ORDERS: tuple[str, ...] = get_args(TieOrder)


def check_tie_order(tie_order: str) -> TieOrder:
    """``tie_order`` if it is one of :data:`TIE_ORDERS`; raises :class:`InputError` otherwise."""
    if tie_order not in TIE_ORDERS:
        raise InputError(f"tie order must be one of {list(TIE_ORDERS)}, got {tie_order!r}")
    return tie_order  # type: ignore[return-value]


def rank_by_score(scores: np.ndarray, groups: np.ndarray, tie_order: TieOrder = "stable") -> np.ndarray:
    """Indices ``[N]`` ordering items by ``groups`` ascending, then by descending score with ``tie_order``.

    ``scores`` ``[N]`` float64 and ``groups`` ``[N]`` int64, in input order (a
    group's members are ranked from its scores in that order, as the official
    scripts do with the rows of one class or video).
    """
    order = np.lexsort((-scores, groups))
    if tie_order == "stable" or order.size < 2:
        return order
    s, g = scores[order], groups[order]
    same_group = g[1:] == g[:-1]
    tied = same_group & (s[1:] == s[:-1])
    if not tied.any():
        return order
    starts = np.flatnonzero(np.concatenate(([True], ~same_group)))
    ends = np.append(starts[1:], order.size)
    tied_groups = np.unique(np.searchsorted(starts, np.flatnonzero(tied), side="right") - 1)
    for k in tied_groups:
        s0, e0 = starts[k], ends[k]
        members = np.sort(order[s0:e0])  # the group's items in input order
        order[s0:e0] = members[np.argsort(scores[members])[::-1]]
    return order
