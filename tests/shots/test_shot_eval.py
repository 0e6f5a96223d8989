"""Shot boundary F1 (vidstruct.eval.shots) on hand-checked cases."""

from __future__ import annotations

import pytest

from vidstruct.eval.shots import CutScore, score_cuts

SPANS = [(10, 10), (30, 36), (60, 60)]  # a hard cut at 10, a dissolve over 30..36, a hard cut at 60


def test_one_to_one_matching_with_tolerance():
    # 9 and 12 both fit the cut at 10 (distances 1 and 2): the nearer wins, 12 is a false positive;
    # 33 and 35 both lie inside the dissolve: the earlier wins on the tie, 35 is a false positive;
    # 61 matches the cut at 60; 80 matches nothing
    score = score_cuts([9, 12, 33, 35, 61, 80], SPANS, tolerance=2)
    assert (score.tp, score.fp, score.fn) == (3, 3, 0)
    assert score.precision == pytest.approx(0.5) and score.recall == 1.0
    assert score.f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_tolerance_edges():
    assert score_cuts([28], SPANS).tp == 1  # 2 frames before the dissolve starts
    assert score_cuts([27], SPANS).tp == 0  # 3 frames before
    assert score_cuts([27], SPANS, tolerance=3).tp == 1
    assert score_cuts([38], SPANS).tp == 1 and score_cuts([39], SPANS).tp == 0  # after its end
    assert score_cuts([13], SPANS, tolerance=2).tp == 0  # 3 after a hard cut


def test_empty_sets_and_sums():
    assert score_cuts([], []).f1 == 1.0
    missed = score_cuts([], SPANS)
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    total = CutScore(3, 3, 0) + CutScore(1, 0, 1)
    assert (total.tp, total.fp, total.fn) == (4, 3, 1)
    assert total.precision == pytest.approx(4 / 7) and total.recall == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="ends before"):
        score_cuts([1], [(5, 4)])
