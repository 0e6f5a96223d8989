"""Shared fixtures of the action-detection tests: a small `synth --task detect` set and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.data.synth.detect import write_detect


@pytest.fixture(scope="session")
def detect_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 videos (8 train, 2 val: videos 4 and 9), 64 px, 3 s at 25 fps: keyframes at 1 and 2 s."""
    out = tmp_path_factory.mktemp("synth_detect")
    write_detect(out, num_videos=10, seed=3, size=64, fps=25.0, duration=3.0)
    return out


def detection_overrides(data: Path, *extra: str) -> list[str]:
    """Overrides that point a configs/detection/*.yaml file at ``data`` with a tiny, fast model."""
    return [
        f"data.videos={data / 'videos'}", f"data.label_map={data / 'label_map.pbtxt'}",
        f"data.train={data / 'train.csv'}", f"data.val={data / 'val.csv'}", "model.backbone.widths=[8,8,16,16]",
        "model.relation.dim=16", "model.relation.heads=2", "model.relation.layers=1", "train.batch_size=4",
        "train.tensorboard=false", "data.transform.size=32", *extra,
    ]  # fmt: skip
