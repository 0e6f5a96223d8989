"""Session fixtures of the ``vidstruct localize`` tests: a random-weight tiny backbone, a tiny BMN localizer
trained on nothing (random weights, saved with ``save_localizer``) and short 64 px videos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from localizekit import Kit, moving_square_video, save_backbone, save_bmn


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    root = tmp_path_factory.mktemp("localize")
    backbone = save_backbone(root / "backbone.pt", seed=0)
    other = save_backbone(root / "other_backbone.pt", seed=1)
    localizer = save_bmn(root / "localizer.pt", backbone)
    return Kit(
        root=root,
        backbone=backbone,
        other_backbone=other,
        localizer=localizer,
        video=moving_square_video(root / "video.mp4", 5.0),
        short_video=moving_square_video(root / "short.mp4", 4.0, seed=1),
    )


@pytest.fixture()
def moved_backbone_localizer(kit: Kit, tmp_path: Path) -> tuple[Path, Path]:
    """``(localizer, backbone copy)``: a localizer whose recorded backbone file no longer exists."""
    gone = tmp_path / "gone" / "backbone.pt"
    gone.parent.mkdir()
    shutil.copyfile(kit.backbone, gone)
    loc = save_bmn(tmp_path / "localizer.pt", gone)
    copy = tmp_path / "elsewhere.pt"
    shutil.move(gone, copy)
    return loc, copy
