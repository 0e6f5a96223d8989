"""``data.transform.flip_pairs``: mirrored clips get the mirrored class (hand-written expectations)."""

from __future__ import annotations

import pytest
import yaml

from vidstruct.config import ExperimentConfig, compose, validate
from vidstruct.errors import ConfigError
from vidstruct.recipes.recognition import flip_label_map

CLASSES = ["move_left", "move_right", "grow", "rotate_cw", "rotate_ccw"]


def _config(tmp_path, transform: dict) -> ExperimentConfig:
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    data = {
        "model": {"name": "r2plus1d_tiny"},
        "data": {"classes": str(tmp_path / "classes.txt"), "transform": transform},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return validate(ExperimentConfig, compose(path, []))


def test_pairs_swap_both_ways_and_leave_the_rest(tmp_path):
    cfg = _config(tmp_path, {"hflip": True, "flip_pairs": [["move_left", "move_right"], ["rotate_ccw", "rotate_cw"]]})
    assert flip_label_map(cfg, []) == {0: 1, 1: 0, 3: 4, 4: 3}


def test_no_pairs_means_no_map(tmp_path):
    assert flip_label_map(_config(tmp_path, {"hflip": True}), []) is None


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (
            {"hflip": True, "flip_pairs": [["move_left", "move_rigth"]]},
            "unknown class 'move_rigth' (did you mean 'move_right'",
        ),
        ({"hflip": False, "flip_pairs": [["move_left", "move_right"]]}, "hflip is false"),
        ({"hflip": True, "flip_pairs": [["move_left", "move_right"], ["move_right", "grow"]]}, "repeats a class"),
    ],
)
def test_bad_pairs_name_the_key(tmp_path, transform, message):
    with pytest.raises(ConfigError, match="data.transform.flip_pairs") as err:
        flip_label_map(_config(tmp_path, transform), [])
    assert message in str(err.value)
