"""Pooling snippet probabilities into a video's class probabilities: mean, max, top-k-mean, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vidstruct.errors import InputError
from vidstruct.eval.video_pooling import pool_snippet_probs, video_class_probs

# 4 snippets x 3 classes, softmax rows
PROBS = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])


def test_mean_is_the_column_mean_and_already_sums_to_one() -> None:
    expected = [1.4 / 4, 1.5 / 4, 1.1 / 4]  # (0.6+0.2+0.1+0.5)/4, (0.3+0.7+0.1+0.4)/4, (0.1+0.1+0.8+0.1)/4
    np.testing.assert_allclose(pool_snippet_probs(PROBS, "mean"), expected)
    np.testing.assert_allclose(video_class_probs(PROBS, "mean"), expected)


def test_max_is_the_column_max_renormalized() -> None:
    np.testing.assert_allclose(pool_snippet_probs(PROBS, "max"), [0.6, 0.7, 0.8])
    np.testing.assert_allclose(video_class_probs(PROBS, "max"), [0.6 / 2.1, 0.7 / 2.1, 0.8 / 2.1])


def test_top_k_mean_takes_each_class_its_own_k_best_snippets() -> None:
    # k = 2: class 0 {0.6, 0.5}, class 1 {0.7, 0.4}, class 2 {0.8, 0.1} -> 0.55, 0.55, 0.45 (sum 1.55)
    np.testing.assert_allclose(pool_snippet_probs(PROBS, "top-k-mean", 2), [0.55, 0.55, 0.45])
    np.testing.assert_allclose(video_class_probs(PROBS, "top-k-mean", 2), [11 / 31, 11 / 31, 9 / 31])
    # k = 1 is max, k >= N is mean
    np.testing.assert_allclose(pool_snippet_probs(PROBS, "top-k-mean", 1), [0.6, 0.7, 0.8])
    np.testing.assert_allclose(pool_snippet_probs(PROBS, "top-k-mean", 9), [0.35, 0.375, 0.275])


def test_one_snippet_and_all_zero_columns() -> None:
    np.testing.assert_allclose(video_class_probs(np.array([[0.2, 0.8]]), "top-k-mean", 3), [0.2, 0.8])
    np.testing.assert_allclose(video_class_probs(np.zeros((2, 4)), "max"), [0.25] * 4)  # nothing: uniform


def test_bad_pool_or_k_is_a_user_error() -> None:
    with pytest.raises(InputError, match="pool: expected one of mean, max, top-k-mean, got 'median'"):
        pool_snippet_probs(PROBS, "median")
    with pytest.raises(InputError, match="k must be >= 1, got 0"):
        pool_snippet_probs(PROBS, "top-k-mean", 0)
