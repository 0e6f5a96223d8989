"""Reels cut from an id video: the decoded reel holds exactly the chosen frames, in time order, for both paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from reelkit import chapters, packets, reel_duration_s, reel_ids, write_doc

from vidstruct.pipeline.reels import make_reel
from vidstruct.structure import read_structure

FRAME_S = 0.1  # the id video runs at 10 fps


def _frames(*ranges: tuple[int, int]) -> list[int]:
    return [i for a, b in ranges for i in range(a, b)]


def test_cuts_on_keyframes_are_stream_copied(reel_doc: Path, reel_video: Path, tmp_path: Path) -> None:
    reel = make_reel(read_structure(reel_doc), tmp_path / "out" / "reel.mp4", label="jump", min_score=0.75)
    assert reel.plan.mode == "copy"
    assert [(p.first_frame, p.end_frame) for p in reel.plan.parts] == [(10, 20), (30, 40)]
    expected = _frames((10, 20), (30, 40))
    assert reel_ids(reel.path) == expected
    assert reel_duration_s(reel.path) == pytest.approx(2.0, abs=FRAME_S)
    # stream copy: the reel's packets are the source's packets of those frames, byte for byte, in decode order
    source = packets(reel_video)
    kept = [data for pts, data in source if any(p.start_pts <= pts < p.end_pts for p in reel.plan.parts)]
    assert [data for _, data in packets(reel.path)] == kept
    assert chapters(reel.chapters) == [("part-0", 0.0, 1.0, "jump"), ("part-1", 1.0, 2.0, "jump")]
    assert reel.chapters == tmp_path / "out" / "reel.chapters.vtt"


def test_a_cut_inside_a_group_of_pictures_re_encodes_the_reel(reel_doc: Path, reel_video: Path, tmp_path: Path) -> None:
    reel = make_reel(read_structure(reel_doc), tmp_path / "reel.mp4", label="jump")
    assert reel.plan.mode == "encode" and "frame 23, not a keyframe" in reel.plan.reason
    expected = _frames((10, 20), (23, 28), (30, 40))
    assert reel_ids(reel.path) == expected
    assert reel_duration_s(reel.path) == pytest.approx(2.5, abs=FRAME_S)
    parts = reel.plan.parts
    kept = [data for pts, data in packets(reel_video) if any(p.start_pts <= pts < p.end_pts for p in parts)]
    assert [data for _, data in packets(reel.path)] != kept  # new packets: it was re-encoded
    assert chapters(reel.chapters) == [
        ("part-0", 0.0, 1.0, "jump"),
        ("part-1", 1.0, 1.5, "jump"),
        ("part-2", 1.5, 2.5, "jump"),
    ]


def test_max_s_keeps_the_best_scoring_segments_that_fit(reel_doc: Path, tmp_path: Path) -> None:
    structure = read_structure(reel_doc)
    # best first: [1, 2) 0.9 fits; [3, 4) 0.8 would make 2 s; [2.3, 2.75) 0.5 fits (1.45 s); then time order
    reel = make_reel(structure, tmp_path / "a.mp4", label="jump", max_s=1.5)
    assert [p.segments for p in reel.plan.parts] == [(0,), (2,)]
    assert reel_ids(reel.path) == _frames((10, 20), (23, 28))
    one = make_reel(structure, tmp_path / "b.mp4", label="jump", max_s=1.0)
    assert one.plan.mode == "copy" and reel_ids(one.path) == _frames((10, 20))


def test_overlapping_segments_are_one_part(reel_doc: Path, tmp_path: Path) -> None:
    reel = make_reel(read_structure(reel_doc), tmp_path / "run.mp4", label="run")
    assert [p.segments for p in reel.plan.parts] == [(3, 4)]
    assert reel.plan.mode == "copy"  # [0, 2): frames 0-19, both cuts on keyframes
    assert reel_ids(reel.path) == _frames((0, 20))
    assert reel_duration_s(reel.path) == pytest.approx(2.0, abs=FRAME_S)
    assert chapters(reel.chapters) == [("part-0", 0.0, 2.0, "run")]


def test_an_end_inside_a_group_of_pictures_re_encodes_too(reel_video: Path, tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "analysis", reel_video, [("jump", 1.0, 1.5, 0.9)])
    reel = make_reel(read_structure(doc), tmp_path / "half.mp4", label="jump")
    assert reel.plan.mode == "encode" and "ends before frame 15, not a keyframe" in reel.plan.reason
    assert reel_ids(reel.path) == _frames((10, 15))
    assert reel_duration_s(reel.path) == pytest.approx(0.5, abs=FRAME_S)
