"""The segment timeline PNG: rows, opacity by score, ground-truth row, time axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vidstruct.pipeline.localizer import Segment
from vidstruct.pipeline.segment_timeline import plot_segment_timeline, segment_rows


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB")).astype(np.float64)


def test_rows_are_the_classes_with_segments() -> None:
    segs = [Segment("b", 0, 1, 0.2), Segment("c", 1, 2, 0.9), Segment("b", 2, 3, 0.5)]
    assert segment_rows(segs, ["a", "b", "c", "d"]) == ["b", "c"]  # class order, only classes with segments
    assert segment_rows(segs) == ["c", "b"]  # by best score without a class list
    assert segment_rows(segs, ["c"]) == ["c", "b"]  # labels outside the class list come after
    assert segment_rows([]) == []


def _ink(path: Path, x0: float, x1: float) -> float:
    """Ink (255 - value, summed) in the columns between fractions ``x0`` and ``x1`` of the image width, in the
    plot's band of rows (below the title, above the time axis)."""
    px = _pixels(path)
    h, w = px.shape[:2]
    return float((255 - px[int(0.3 * h) : int(0.75 * h), int(x0 * w) : int(x1 * w)]).sum())


def test_opacity_follows_score_relative_to_the_best(tmp_path: Path) -> None:
    """Two bars of equal size at different times: the 0.4 one carries more ink than the 0.04 one; scaling
    every score by 2.5 changes nothing (opacity is relative to the best score drawn)."""
    segs = [Segment("a", 1.0, 4.0, 0.4), Segment("b", 6.0, 9.0, 0.04)]
    png = plot_segment_timeline(tmp_path / "t.png", segs, 10.0, title="x")
    assert _ink(png, 0.2, 0.4) > 1.5 * _ink(png, 0.6, 0.8)
    scaled = [Segment(s.label, s.start_s, s.end_s, s.score * 2.5) for s in segs]
    png2 = plot_segment_timeline(tmp_path / "t2.png", scaled, 10.0, title="x")
    for lo, hi in ((0.2, 0.4), (0.6, 0.8)):
        assert _ink(png2, lo, hi) == _ink(png, lo, hi)


def test_bar_spans_its_seconds(tmp_path: Path) -> None:
    """A full-score bar over [2.5, 7.5] s of a 10 s axis fills the middle half of the plot's x range."""
    png = plot_segment_timeline(tmp_path / "t.png", [Segment("a", 2.5, 7.5, 1.0)], 10.0, title="x")
    px = _pixels(png)
    coloured = np.abs(px - px.mean(axis=2, keepdims=True)).sum(axis=2) > 60  # saturated (non-grey) pixels
    cols = np.flatnonzero(coloured.any(axis=0))
    left, right = cols.min(), cols.max()
    frame = np.flatnonzero((px.sum(axis=2) < 100).sum(axis=0) > px.shape[0] // 3)  # the axes' vertical spines
    x0, x1 = frame.min(), frame.max()
    assert abs((left - x0) / (x1 - x0) - 0.25) < 0.02
    assert abs((right - x0) / (x1 - x0) - 0.75) < 0.02


def test_ground_truth_adds_a_row(tmp_path: Path) -> None:
    segs = [Segment("a", 1.0, 2.0, 0.8), Segment("b", 3.0, 4.0, 0.4)]
    plain = _pixels(plot_segment_timeline(tmp_path / "plain.png", segs, 5.0))
    truth = [(1.0, 2.2, "a"), (3.5, 4.5, "z")]  # "z" has no predicted row: only in the ground-truth row
    with_truth = _pixels(plot_segment_timeline(tmp_path / "truth.png", segs, 5.0, truth=truth))
    assert with_truth.shape[0] > plain.shape[0]  # one more row
    red = (with_truth[..., 0] > 200) & (with_truth[..., 1] < 60) & (with_truth[..., 2] < 60)
    assert red.sum() > 50  # the dashed outline of the true "a" segment on row "a"


def test_empty_timeline_is_written(tmp_path: Path) -> None:
    png = plot_segment_timeline(tmp_path / "deep" / "empty.png", [], 3.0)
    assert png.is_file() and _pixels(png).shape[1] >= 500
