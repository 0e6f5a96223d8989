"""Segments: the windows → segments merge rule on hand-made probabilities, the cut at shot boundaries, and
segments of a real analysis that never cross a shot (or do, when the profile says so)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analyzekit import CLASSES, CONSTANT_PROB, Kit

from vidstruct.pipeline.analyze import (
    AnalyzeSettings,
    MergeSettings,
    RecognitionSettings,
    ShotSettings,
    Span,
    analyze_video,
    load_models,
    merge_windows,
    split_at_shots,
)
from vidstruct.structure import read_structure

# six windows of 1 s, back to back; classes a, b, c
STARTS = np.arange(6.0)
ENDS = STARTS + 1.0
PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # a
        [0.7, 0.2, 0.1],  # a
        [0.1, 0.8, 0.1],  # b
        [0.6, 0.3, 0.1],  # a
        [0.5, 0.3, 0.2],  # a, but below min_prob 0.6: votes for nothing
        [0.8, 0.1, 0.1],  # a
    ]
)
ABC = ["a", "b", "c"]


def _rows(spans: list[Span]) -> list[tuple[str, float, float, float, int | None]]:
    return [(s.label, s.start_s, s.end_s, round(s.score, 9), s.shot) for s in spans]


def test_windows_of_one_label_merge_when_the_gap_is_within_the_tolerance() -> None:
    tight = MergeSettings(gap_tolerance_s=0.5, min_prob=0.6)
    assert _rows(merge_windows(STARTS, ENDS, PROBS, ABC, tight)) == [
        ("a", 0.0, 2.0, 0.8, None),  # windows 0, 1: mean(0.9, 0.7)
        ("b", 2.0, 3.0, 0.8, None),
        ("a", 3.0, 4.0, 0.6, None),  # 1 s after the first a segment: a new one
        ("a", 5.0, 6.0, 0.8, None),  # window 4 did not vote: 1 s gap again
    ]
    loose = MergeSettings(gap_tolerance_s=1.0, min_prob=0.6)
    # within 1 s, the b window in between does not split label a's segment (labels merge independently)
    assert _rows(merge_windows(STARTS, ENDS, PROBS, ABC, loose)) == [
        ("a", 0.0, 6.0, 0.75, None),
        ("b", 2.0, 3.0, 0.8, None),
    ]
    peak = MergeSettings(gap_tolerance_s=1.0, min_prob=0.6, aggregate="max")
    assert _rows(merge_windows(STARTS, ENDS, PROBS, ABC, peak))[0] == ("a", 0.0, 6.0, 0.9, None)


def test_overlapping_windows_always_join_and_the_end_is_clipped_to_the_video() -> None:
    starts = np.array([0.0, 0.5, 1.0])
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.1, 0.9]])
    spans = merge_windows(starts, starts + 1.0, probs, ["x", "y"], MergeSettings(gap_tolerance_s=0.0), duration_s=1.7)
    assert _rows(spans) == [("y", 0.0, 1.7, round((0.8 + 0.6 + 0.9) / 3, 9), None)]


def test_windows_of_two_shots_never_join_and_segments_are_clipped_to_their_shot() -> None:
    shots = [(0.0, 2.5), (2.5, 6.0)]
    settings = MergeSettings(gap_tolerance_s=1.0, min_prob=0.6)
    # a window belongs to the shot holding its centre: windows 0-1 to shot 0, windows 2-5 to shot 1
    assert _rows(merge_windows(STARTS, ENDS, PROBS, ABC, settings, shots=shots)) == [
        ("a", 0.0, 2.0, 0.8, 0),
        ("b", 2.5, 3.0, 0.8, 1),  # window [2, 3] clipped to shot 1
        ("a", 3.0, 6.0, 0.7, 1),  # mean(0.6, 0.8)
    ]
    short_dropped = MergeSettings(gap_tolerance_s=1.0, min_prob=0.6, min_duration_s=0.6)
    assert [s.label for s in merge_windows(STARTS, ENDS, PROBS, ABC, short_dropped, shots=shots)] == ["a", "a"]
    crossing = MergeSettings(gap_tolerance_s=1.0, min_prob=0.6, cross_shots=True)
    # a segment inside one shot still names it; one spanning the cut names none
    assert _rows(merge_windows(STARTS, ENDS, PROBS, ABC, crossing, shots=shots)) == [
        ("a", 0.0, 6.0, 0.75, None),
        ("b", 2.0, 3.0, 0.8, None),
    ]
    assert _rows(merge_windows(STARTS[:2], ENDS[:2], PROBS[:2], ABC, crossing, shots=shots)) == [
        ("a", 0.0, 2.0, 0.8, 0)
    ]


def test_localizer_segments_are_cut_at_shot_boundaries() -> None:
    shots = [(0.0, 2.5), (2.5, 6.0)]
    spans = [Span("a", 1.0, 4.0, 0.5), Span("b", 3.0, 4.0, 0.25), Span("c", 2.0, 2.6, 0.4)]
    assert _rows(split_at_shots(spans, shots, cross_shots=False)) == [
        ("a", 1.0, 2.5, 0.5, 0),
        ("a", 2.5, 4.0, 0.5, 1),
        ("b", 3.0, 4.0, 0.25, 1),
        ("c", 2.0, 2.5, 0.4, 0),
        ("c", 2.5, 2.6, 0.4, 1),
    ]
    assert _rows(split_at_shots(spans, shots, cross_shots=False, min_duration_s=0.6)) == [
        ("a", 1.0, 2.5, 0.5, 0),
        ("a", 2.5, 4.0, 0.5, 1),
        ("b", 3.0, 4.0, 0.25, 1),
    ]
    assert _rows(split_at_shots(spans, shots, cross_shots=True)) == [
        ("a", 1.0, 4.0, 0.5, None),
        ("b", 3.0, 4.0, 0.25, 1),
        ("c", 2.0, 2.6, 0.4, None),
    ]


@pytest.mark.parametrize("cross_shots", [False, True])
def test_an_analysis_with_one_label_everywhere_splits_it_at_the_cut(
    kit: Kit, tmp_path: Path, cross_shots: bool
) -> None:
    settings = AnalyzeSettings(
        shots=ShotSettings("content"),
        recognition=RecognitionSettings(str(kit.constant), window_s=1.0, stride_s=0.5),
        segments=MergeSettings(cross_shots=cross_shots),
        report=False,
        device="cpu",
    )
    analyze_video(load_models(settings), kit.video, tmp_path)
    doc = read_structure(tmp_path / "two_shots").document
    assert [(s["start_s"], s["end_s"]) for s in doc["shots"]] == [(0.0, 3.0), (3.0, 6.0)]
    prob = round(CONSTANT_PROB, 6)
    got = [(s["label"], s["start_s"], s["end_s"], s["score"], s["shot"]) for s in doc["segments"]]
    if cross_shots:
        assert got == [(CLASSES[0], 0.0, 6.0, prob, None)]
    else:
        assert got == [(CLASSES[0], 0.0, 3.0, prob, 0), (CLASSES[0], 3.0, 6.0, prob, 1)]
    assert all(s["source"] == "windows" and s["model"] == "recognizer" for s in doc["segments"])
