"""Session fixtures of the ``vidstruct analyze`` tests: tiny checkpoints and short 64 px videos, made once."""

from __future__ import annotations

import pytest
from analyzekit import Kit, save_backbone, save_bmn, two_shot_video


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
