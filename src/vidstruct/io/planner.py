"""Decode planning: which keyframes to seek to for a set of requested frames.

Decoding frame ``t`` needs every frame from the keyframe that starts its GOP
(group of pictures) up to ``t``. For sorted requests the planner walks
forward and, for each next request, either keeps decoding from the current
position or seeks to the request's keyframe, whichever decodes fewer frames
(a seek is charged ``seek_cost`` frames for the decoder flush and refill).
So each needed GOP is decoded at most once, sparse requests (few frames over
a long video) cost one partial GOP each, and dense requests (a contiguous
clip) cost one pass from the first keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: extra frames a seek is worth (decoder flush / pipeline refill, demuxer reset)
DEFAULT_SEEK_COST = 4


@dataclass(frozen=True)
class DecodeRun:
    """One forward decode: optionally seek to keyframe ``seek_to``, then produce ``targets`` (sorted)."""

    seek_to: int | None
    targets: np.ndarray


def plan_decode(
    targets: np.ndarray,
    gop_starts: np.ndarray,
    position: int | None = None,
    seek_cost: int = DEFAULT_SEEK_COST,
) -> list[DecodeRun]:
    """Split sorted, unique frame indices ``targets`` into decode runs.

    - ``gop_starts[i]``: the keyframe index that starts ``targets[i]``'s GOP;
    - ``position``: index of the last frame the decoder produced (``None``:
      not positioned, the first run seeks).

    Continuing from ``position`` to ``t`` decodes ``t - position`` frames;
    seeking decodes ``t - gop_start + 1`` plus ``seek_cost``. Continuing wins
    when ``t``'s keyframe is at most ``seek_cost`` frames past ``position``
    (always when it is at or before it).
    """
    targets = np.asarray(targets, dtype=np.int64)
    gop_starts = np.asarray(gop_starts, dtype=np.int64)
    if targets.size and np.any(np.diff(targets) <= 0):
        raise ValueError("targets must be sorted and unique")
    runs: list[DecodeRun] = []
    current: list[int] = []
    seek_to: int | None = None
    pos = position
    for t, key in zip(targets.tolist(), gop_starts.tolist()):
        resume = pos is not None and t > pos and key - pos <= seek_cost
        if not resume:
            if current:
                runs.append(DecodeRun(seek_to, np.asarray(current, dtype=np.int64)))
            current = []
            seek_to = key
        current.append(t)
        pos = t
    if current:
        runs.append(DecodeRun(seek_to, np.asarray(current, dtype=np.int64)))
    return runs


def planned_frames(runs: list[DecodeRun], position: int | None = None) -> int:
    """Number of frames the plan decodes (ignoring frame-threading lookahead)."""
    total = 0
    pos = position
    for run in runs:
        start = run.seek_to if run.seek_to is not None else (pos + 1 if pos is not None else 0)
        last = int(run.targets[-1])
        total += last - start + 1
        pos = last
    return total
