"""Session fixtures of the ``vidstruct analyze`` tests: tiny checkpoints and short 64 px videos, made once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from analyzekit import save_backbone, save_bmn, two_shot_video


@dataclass(frozen=True)
class Kit:
    root: Path
    backbone: Path  # random weights
    constant: Path  # class 0 ("left") on top everywhere, probability CONSTANT_PROB
    localizer: Path  # BMN on `backbone`'s snippets (1.0 s every 0.5 s)
    video: Path  # 6 s, 10 fps, one cut at 3.0 s
    one_shot: Path  # 2 s, no cut


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    root = tmp_path_factory.mktemp("analyze")
    backbone = save_backbone(root / "backbone.pt", seed=0)
    return Kit(
        root=root,
        backbone=backbone,
        constant=save_backbone(root / "constant.pt", seed=1, constant=0),
        localizer=save_bmn(root / "localizer.pt", backbone),
        video=two_shot_video(root / "two_shots.mp4"),
        one_shot=two_shot_video(root / "one_shot.mp4", 2.0, cut_s=None, seed=1),
    )
