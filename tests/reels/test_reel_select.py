"""Choosing a reel's segments (no video): label / ids, minimum score, time budget best first, overlaps merged."""

from __future__ import annotations

from typing import Any

import pytest

from vidstruct.pipeline.reels import ReelError, ReelPick, choose_segments


def _seg(label: str, start: float, end: float, score: float) -> dict[str, Any]:
    return {"label": label, "start_s": start, "end_s": end, "score": score}


SEGS = [
    _seg("goal", 10.0, 14.0, 0.9),
    _seg("goal", 2.0, 5.0, 0.6),
    _seg("goal", 12.0, 16.0, 0.7),  # overlaps the first
    _seg("save", 4.0, 6.0, 0.8),  # overlaps the second
    _seg("goal", 20.0, 21.0, 0.3),
]


def test_label_and_min_score_then_time_order_with_overlaps_merged() -> None:
    parts = choose_segments(SEGS, label="goal", min_score=0.5)
    assert parts == [ReelPick(2.0, 5.0, "goal", 0.6, (1,)), ReelPick(10.0, 16.0, "goal", 0.9, (0, 2))]


def test_max_s_counts_the_union_and_skips_what_does_not_fit() -> None:
    # best first: [10, 14) 4 s; [12, 16) adds 2 s (6); [2, 5) would make 9 > 7: skipped; [20, 21) fits (7)
    parts = choose_segments(SEGS, label="goal", max_s=7.0)
    assert [(p.start_s, p.end_s, p.segments) for p in parts] == [(10.0, 16.0, (0, 2)), (20.0, 21.0, (4,))]


def test_when_nothing_fits_the_best_segment_is_cut_to_max_s() -> None:
    assert choose_segments(SEGS, label="goal", max_s=0.5) == [ReelPick(10.0, 10.5, "goal", 0.9, (0,))]


def test_segment_ids_across_labels_merge_their_names() -> None:
    parts = choose_segments(SEGS, segment_ids=[3, 1, 1])
    assert parts == [ReelPick(2.0, 6.0, "goal + save", 0.8, (1, 3))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "dive"}, "label 'dive' is not in the document (its segment labels: goal, save)"),
        ({"label": "goal", "min_score": 0.95}, "no segment of label 'goal' has a score >= 0.95"),
        ({"label": "goal", "max_s": 0}, "--max-s must be > 0 seconds, got 0"),
        ({"label": "goal", "max_s": -2.0}, "--max-s must be > 0 seconds, got -2"),
        ({"segment_ids": [7]}, "segment id 7 does not exist (the document holds segments 0..4)"),
        ({}, "exactly one of them"),
    ],
)
def test_bad_requests_are_reel_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ReelError) as caught:
        choose_segments(SEGS, **kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)
