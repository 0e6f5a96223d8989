"""MoSI label spaces: speed sets, joint / separate labels, names and errors (hand-written expectations)."""

from __future__ import annotations

import pytest
import torch

from vidstruct.errors import ConfigError
from vidstruct.ssl.mosi import SEPARATE_HEADS, MotionLabelSpace

DEFAULT_SPEEDS = [(-2, 0), (-1, 0), (1, 0), (2, 0), (0, -2), (0, -1), (0, 1), (0, 2), (0, 0)]


def test_default_is_the_paper_recipe_nine_joint_classes():
    space = MotionLabelSpace()
    assert list(space.speeds) == DEFAULT_SPEEDS
    assert len(space) == 9 and space.num_classes == 9 and space.max_speed == 2
    assert torch.equal(space.labels(), torch.arange(9))
    assert space.class_names() == ["x-2", "x-1", "x+1", "x+2", "y-2", "y-1", "y+1", "y+2", "static"]


def test_separate_labels_are_speed_plus_max_per_axis():
    space = MotionLabelSpace(mode="separate")
    expected = [[0, 2], [1, 2], [3, 2], [4, 2], [2, 0], [2, 1], [2, 3], [2, 4], [2, 2]]
    assert space.labels().tolist() == expected
    assert space.num_classes == (5, 5)
    names = space.class_names()
    assert list(names) == list(SEPARATE_HEADS)
    assert names["move_x"] == ["x-2", "x-1", "x0", "x+1", "x+2"]


def test_coupled_speed_set_has_every_pair_with_static_last():
    space = MotionLabelSpace(decouple=False)
    assert len(space) == 25
    assert len(set(space.speeds)) == 25
    assert space.speeds[-1] == (0, 0) and (0, 0) not in space.speeds[:-1]
    assert space.speeds[0] == (-2, -2) and space.speeds[1] == (-2, -1)  # x-major order
    assert space.class_names()[0] == "x-2,y-2"


def test_three_speeds_and_no_static():
    assert list(MotionLabelSpace(num_speeds=3).speeds) == [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)]
    no_static = MotionLabelSpace(include_static=False)
    assert list(no_static.speeds) == DEFAULT_SPEEDS[:-1] and no_static.num_classes == 8


@pytest.mark.parametrize("mode", ["joint", "separate"])
def test_label_and_speed_round_trip(mode):
    space = MotionLabelSpace(mode=mode)
    for speed, label in zip(space.speeds, space.labels()):
        assert space.speed_of(label) == speed
        assert torch.equal(torch.as_tensor(space.label_of(speed)), label)


def test_mirrored_index_negates_x_only():
    space = MotionLabelSpace()
    assert [space.speeds[space.mirrored_index(i)] for i in range(9)] == [(-sx, sy) for sx, sy in DEFAULT_SPEEDS]
    assert space.mirrored_index(0) == 3 and space.mirrored_index(5) == 5


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"num_speeds": 4}, "odd"), ({"num_speeds": 1}, "odd"), ({"mode": "both"}, "joint")],
)
def test_bad_label_space_config(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        MotionLabelSpace(**kwargs)


def test_unknown_speed_is_an_error():
    with pytest.raises(ConfigError, match=r"\(1, 1\)"):
        MotionLabelSpace().label_of((1, 1))  # decoupled set: both axes never move together
